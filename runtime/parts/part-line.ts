/**
 * The device's part trackers, one per camera, and the entry point for
 * triggers from MQTT and HTTP: a trigger is validated (runtime/parts/payloads.ts),
 * routed to its camera's tracker, and every trigger error is counted — on the
 * camera for a malformed, overlapping, out-of-order or duplicate trigger, on
 * the device for a trigger naming a camera it does not have.
 */
import { PartTracker, type PartVerdict, type TrackerOptions } from './tracker.ts';
import { triggerPayloadSchema } from './payloads.ts';

export type TriggerResult =
  | { ok: true; verdicts: PartVerdict[] }
  | { ok: false; error: 'unknown_camera' | 'invalid_trigger' | 'not_trigger_mode' | 'overlapping_trigger' | 'out_of_order_trigger' | 'duplicate_part_id'; message: string; verdicts: PartVerdict[] };

export class PartLine {
  private readonly trackers = new Map<string, PartTracker>();
  /** Triggers for cameras the device does not have. */
  unknownCameraTriggers = 0;

  constructor(cameras: readonly TrackerOptions[]) {
    for (const options of cameras) this.trackers.set(options.camera, new PartTracker(options));
  }

  tracker(camera: string): PartTracker | undefined {
    return this.trackers.get(camera);
  }

  /** A trigger message (parsed JSON) for `camera`, received at `now`. An overlap still opens the new part (`ok: false` reports the error). */
  trigger(camera: string, payload: unknown, now: number): TriggerResult {
    const tracker = this.trackers.get(camera);
    if (!tracker) {
      this.unknownCameraTriggers++;
      return { ok: false, error: 'unknown_camera', message: `no camera ${JSON.stringify(camera)} on this device`, verdicts: [] };
    }
    const parsed = triggerPayloadSchema.safeParse(payload);
    if (!parsed.success) {
      tracker.recordTriggerError();
      return { ok: false, error: 'invalid_trigger', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'trigger'}: ${i.message}`).join('; '), verdicts: [] };
    }
    if (tracker.mode !== 'trigger') {
      tracker.recordTriggerError();
      return { ok: false, error: 'not_trigger_mode', message: `camera ${camera} is in ${tracker.mode} mode`, verdicts: [] };
    }
    const outcome = tracker.onTrigger(parsed.data, now);
    const verdicts = tracker.tick(now);
    if (outcome.error) return { ok: false, error: outcome.error, message: `part ${parsed.data.partId}: ${outcome.error.replaceAll('_', ' ')}`, verdicts };
    return { ok: true, verdicts };
  }
}
