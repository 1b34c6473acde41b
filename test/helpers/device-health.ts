/**
 * The health of a device with nothing wrong, for tests that serve the web UI
 * or /health without a running device behind them.
 */
import type { DeviceHealth } from '../../runtime/health.ts';

export function okHealth(): DeviceHealth {
  return {
    status: 'ok',
    problems: [],
    device: 'line9',
    version: 'test',
    uptimeS: 1,
    mqtt: { state: 'online', pendingRejects: 0, sentRejects: 0, refusedRejects: 0, quarantinedRejects: 0, reconnects: 0 },
    products: {},
    cameras: [],
  };
}
