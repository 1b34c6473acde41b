/**
 * What the web app's routes share: the device (config, health, cameras), the
 * live view, the capture, enrollment and product-update runners, sign-in, and the limits on
 * work clients start at will (event streams, uploads, failed sign-ins).
 */
import type { TriggerResult } from '../parts/part-line.ts';
import type { PartCountersPayload } from '../parts/payloads.ts';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../config/device.ts';
import { listProductSummaries } from '../../product/versions.ts';
import type { DeviceHealth } from '../health.ts';
import { WebAuth } from './auth.ts';
import { CaptureRunner } from './capture-runner.ts';
import { EnrollmentRunner } from './enrollment-runner.ts';
import { ApiError } from './http-util.ts';
import { LiveView, type LiveCamera } from './live-view.ts';
import { LoginLimiter } from './login-limiter.ts';
import { Slots } from './slots.ts';
import { ChangeFeed } from './sse.ts';
import { UpdateRunner } from './update-runner.ts';

export interface WebCamera extends LiveCamera {
  product: string;
}

/** The device's part logic as the web API uses it (absent on a device that does not judge parts). */
export interface WebParts {
  trigger(camera: string, payload: unknown): TriggerResult;
  resetCounters(camera: string): boolean;
  counters(): Record<string, PartCountersPayload>;
}

export interface WebDevice {
  config: DeviceConfig;
  health(): DeviceHealth;
  cameras: WebCamera[];
  parts?: WebParts;
}

export interface WebLimits {
  /** Open /api/events streams at once; more get 503. */
  eventStreams: number;
  /** Image uploads being checked at once; more get 503. */
  parallelUploads: number;
  /** Failed sign-ins per source address within `loginWindowMs` before sign-in answers 429. */
  loginFailures: number;
  loginWindowMs: number;
}

export const DEFAULT_WEB_LIMITS: WebLimits = { eventStreams: 16, parallelUploads: 2, loginFailures: 5, loginWindowMs: 60_000 };

export interface WebContext {
  config: DeviceConfig;
  device: WebDevice;
  live: LiveView;
  capture: CaptureRunner;
  enrollment: EnrollmentRunner;
  update: UpdateRunner;
  auth: WebAuth;
  logins: LoginLimiter;
  /** Served over TLS: cookies are Secure and the own origin is https. */
  tls: boolean;
  log: Logger | undefined;
  changes: ChangeFeed;
  eventStreams: Slots;
  uploads: Slots;
}

export function createWebContext(device: WebDevice, opts: { logger?: Logger; tls: boolean; limits: WebLimits }): WebContext {
  const { config } = device;
  const live = new LiveView(device.cameras);
  const capture = new CaptureRunner(config.dataDir);
  const enrollment = new EnrollmentRunner(config, undefined, opts.logger);
  const update = new UpdateRunner(config, undefined, opts.logger);
  const changes = new ChangeFeed((emit) => {
    const unsubscribe = live.subscribe(emit);
    capture.on('change', emit);
    enrollment.on('change', emit);
    update.on('change', emit);
    // Health (fps, states) changes without frames too, e.g. when a camera goes down.
    const timer = setInterval(emit, 1000);
    return () => {
      unsubscribe();
      capture.off('change', emit);
      enrollment.off('change', emit);
      update.off('change', emit);
      clearInterval(timer);
    };
  });
  return {
    config,
    device,
    live,
    capture,
    enrollment,
    update,
    auth: new WebAuth(config.http.auth),
    logins: new LoginLimiter(opts.limits.loginFailures, opts.limits.loginWindowMs),
    tls: opts.tls,
    log: opts.logger,
    changes,
    eventStreams: new Slots(opts.limits.eventStreams),
    uploads: new Slots(opts.limits.parallelUploads),
  };
}

export function findCamera(app: WebContext, id: string): WebCamera {
  const c = app.device.cameras.find((x) => x.id === id);
  if (!c) throw new ApiError(404, `there is no camera "${id}" (cameras: ${app.device.cameras.map((x) => x.id).join(', ')})`);
  return c;
}

/**
 * Golden samples are kept only for products the device knows: one a camera
 * is configured for, or one with an enrolled version. Anything else would be
 * a folder no camera will ever use, made by whoever can reach the API.
 */
export async function requireKnownProduct(app: WebContext, product: string): Promise<void> {
  if (app.device.cameras.some((c) => c.product === product)) return;
  if ((await listProductSummaries(app.config.dataDir)).some((s) => s.product === product && s.versions > 0)) return;
  const configured = [...new Set(app.device.cameras.map((c) => c.product))].join(', ') || 'none';
  throw new ApiError(404, `product "${product}" is not configured on a camera and has no enrolled version (configured: ${configured}); add it to a camera in the config first`);
}
