/**
 * Prometheus metrics of a device. Per-frame figures (latencies, verdicts,
 * rejects) are observed as they happen; camera and broker counters are read
 * from the health snapshot at scrape time, so there is one source of truth.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeviceHealth } from './health.ts';

const LATENCY_BUCKETS_S = [0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5];

type CameraCounter = 'frames' | 'droppedFrames' | 'reconnects' | 'decodeErrors';

export class RuntimeMetrics {
  readonly registry = new Registry();
  private readonly frameLatency: Histogram<'camera'>;
  private readonly rejectAckLatency: Histogram<'camera'>;
  private readonly scored: Counter<'camera' | 'verdict'>;
  private readonly rejects: Counter<'camera'>;

  constructor(snapshot: () => DeviceHealth) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'linesight_' });
    this.frameLatency = new Histogram({
      name: 'linesight_frame_latency_seconds',
      help: 'Frame arrival to decision',
      labelNames: ['camera'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.rejectAckLatency = new Histogram({
      name: 'linesight_reject_ack_latency_seconds',
      help: 'Frame arrival to the broker acknowledging its reject signal (PUBACK)',
      labelNames: ['camera'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.scored = new Counter({ name: 'linesight_frames_scored_total', help: 'Frames scored, by verdict', labelNames: ['camera', 'verdict'], registers });
    this.rejects = new Counter({ name: 'linesight_rejects_total', help: 'Reject signals decided (one per bad part)', labelNames: ['camera'], registers });

    // Counters kept by the camera sources, mirrored at scrape time.
    const mirrored: [CameraCounter, string, string][] = [
      ['frames', 'linesight_camera_frames_total', 'Frames decoded from the camera'],
      ['droppedFrames', 'linesight_camera_dropped_frames_total', 'Frames replaced by a newer one before they could be scored'],
      ['reconnects', 'linesight_camera_reconnects_total', 'Restarts of the camera reader'],
      ['decodeErrors', 'linesight_camera_decode_errors_total', 'Decode errors reported by the camera reader'],
    ];
    for (const [key, name, help] of mirrored) {
      const seen = new Map<string, number>();
      new Counter({
        name,
        help,
        labelNames: ['camera'],
        registers,
        collect() {
          for (const c of snapshot().cameras) {
            // A counter only grows: add what is new since the last scrape.
            const delta = c[key] - (seen.get(c.id) ?? 0);
            if (delta > 0) this.inc({ camera: c.id }, delta);
            seen.set(c.id, Math.max(c[key], seen.get(c.id) ?? 0));
          }
        },
      });
    }
    new Gauge({
      name: 'linesight_camera_fps',
      help: 'Frames per second decoded over the last seconds',
      labelNames: ['camera'],
      registers,
      collect() {
        for (const c of snapshot().cameras) this.set({ camera: c.id }, c.fps);
      },
    });
    new Gauge({
      name: 'linesight_camera_up',
      help: '1 when the camera is streaming',
      labelNames: ['camera'],
      registers,
      collect() {
        for (const c of snapshot().cameras) this.set({ camera: c.id }, c.state === 'streaming' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'linesight_mqtt_connected',
      help: '1 when the broker connection is up',
      registers,
      collect() {
        this.set(snapshot().mqtt.state === 'online' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'linesight_reject_outbox_pending',
      help: 'Reject signals stored on disk and not yet acknowledged by the broker',
      registers,
      collect() {
        this.set(snapshot().mqtt.pendingRejects);
      },
    });
    new Gauge({
      name: 'linesight_reject_outbox_quarantined',
      help: 'Unreadable reject signals set aside as *.corrupt in the outbox (never sent)',
      registers,
      collect() {
        this.set(snapshot().mqtt.quarantinedRejects);
      },
    });
    new Gauge({
      name: 'linesight_product_info',
      help: 'Active version of each product (value 1)',
      labelNames: ['product', 'version'],
      registers,
      collect() {
        this.reset();
        for (const [product, version] of Object.entries(snapshot().products)) this.set({ product, version }, 1);
      },
    });
  }

  frameScored(camera: string, verdict: 'ok' | 'reject', latencyMs: number): void {
    this.scored.inc({ camera, verdict });
    this.frameLatency.observe({ camera }, latencyMs / 1000);
  }

  rejectDecided(camera: string): void {
    this.rejects.inc({ camera });
  }

  rejectAcked(camera: string, latencyMs: number): void {
    this.rejectAckLatency.observe({ camera }, latencyMs / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
