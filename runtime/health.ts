/**
 * The device's health as one snapshot: what the HTTP endpoint serves as JSON,
 * what Prometheus metrics are read from, and what the MQTT health messages
 * carry per camera.
 */
import type { PublisherStats } from './mqtt/publisher.ts';
import type { PipelineStats } from './camera-pipeline.ts';

/** What a camera source reports about its stream (the `CameraStats` of `FfmpegCamera.stats()` in runtime/ingest/ffmpeg-camera.ts). */
export interface SourceHealth {
  state: string;
  /** Why the camera is in this state, in words for technicians. */
  reason?: string;
  fps: number;
  frames: number;
  droppedFrames: number;
  reconnects: number;
  decodeErrors: number;
  lastFrameTs: number | null;
}

export interface CameraHealth extends SourceHealth, PipelineStats {
  id: string;
  product: string;
  modelVersion: string | null;
}

export interface DeviceHealth {
  /** ok: broker connected and every camera streaming; degraded otherwise. */
  status: 'ok' | 'degraded';
  /** Sentences naming what is wrong, empty when ok. */
  problems: string[];
  device: string;
  version: string;
  uptimeS: number;
  mqtt: Partial<Pick<PublisherStats, 'pendingParts' | 'sentParts'>> &
    Pick<PublisherStats, 'state' | 'pendingRejects' | 'sentRejects' | 'refusedRejects' | 'quarantinedRejects' | 'reconnects' | 'lastError'>;
  products: Record<string, string>;
  cameras: CameraHealth[];
}

/** The problems a technician should look at, from the parts' states. */
export function healthProblems(mqtt: DeviceHealth['mqtt'], cameras: CameraHealth[]): string[] {
  const problems: string[] = [];
  if (mqtt.state !== 'online') problems.push(`MQTT broker not connected (${mqtt.state}${mqtt.lastError ? `: ${mqtt.lastError}` : ''}); ${mqtt.pendingRejects} reject(s) kept on disk until it is back`);
  if (mqtt.refusedRejects > 0) problems.push(`${mqtt.refusedRejects} reject(s) refused because the reject outbox is full`);
  if (mqtt.quarantinedRejects > 0) problems.push(`${mqtt.quarantinedRejects} unreadable reject(s) set aside as *.corrupt in the reject outbox and never sent`);
  for (const c of cameras) {
    if (c.state !== 'streaming') problems.push(`camera ${c.id} is ${c.state}${c.reason ? `: ${c.reason}` : ''}`);
    if (c.modelVersion === null) problems.push(`product "${c.product}" is not enrolled yet: camera ${c.id} streams without scoring until a version is activated`);
  }
  return problems;
}
