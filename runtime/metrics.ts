/**
 * Prometheus metrics of a device. Per-frame figures (latencies, verdicts,
 * rejects) are observed as they happen; camera and broker counters are read
 * from the health snapshot at scrape time, so there is one source of truth.
 * Part counters (the ones the PLC reads on `<camera>/counters`) are read from
 * the part trackers at scrape time too, as gauges: a reset zeroes them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeviceHealth } from './health.ts';
import type { PartCountersSnapshot } from './parts/counters.ts';

/** What the part metrics read at scrape time. */
export interface PartMetricsSource {
  cameras: Record<string, PartCountersSnapshot>;
  /** Triggers naming a camera the device does not have. */
  unknownCameraTriggers: number;
}

const LATENCY_BUCKETS_S = [0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5];

type CameraCounter = 'frames' | 'droppedFrames' | 'reconnects' | 'decodeErrors';

export class RuntimeMetrics {
  readonly registry = new Registry();
  private readonly frameLatency: Histogram<'camera'>;
  private readonly rejectAckLatency: Histogram<'camera'>;
  private readonly scored: Counter<'camera' | 'verdict'>;
  private readonly rejects: Counter<'camera'>;
  private readonly partLatency: Histogram<'camera' | 'verdict'>;

  constructor(snapshot: () => DeviceHealth, parts: () => PartMetricsSource = () => ({ cameras: {}, unknownCameraTriggers: 0 })) {
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

    this.partLatency = new Histogram({
      name: 'linesight_part_latency_seconds',
      help: 'Trigger (or the part leaving the view) to the part verdict, by verdict',
      labelNames: ['camera', 'verdict'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.partGauges(parts, registers);

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
      name: 'linesight_camera_read_delay_ms',
      help: 'How late the device read frames (arrival minus the time on the camera frame clock) over the last frames, by quantile',
      labelNames: ['camera', 'quantile'],
      registers,
      collect() {
        this.reset();
        for (const c of snapshot().cameras) {
          if (c.readDelayP50Ms !== null) this.set({ camera: c.id, quantile: '0.5' }, c.readDelayP50Ms);
          if (c.readDelayP99Ms !== null) this.set({ camera: c.id, quantile: '0.99' }, c.readDelayP99Ms);
        }
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

  /** The part counters of each camera (since its last reset) and the device's unknown-camera triggers. */
  private partGauges(parts: () => PartMetricsSource, registers: Registry[]): void {
    new Gauge({
      name: 'linesight_parts',
      help: 'Parts since the last counter reset, by outcome (all, ok, ng, no_verdict) and trigger errors',
      labelNames: ['camera', 'kind'],
      registers,
      collect() {
        for (const [camera, c] of Object.entries(parts().cameras)) {
          this.set({ camera, kind: 'all' }, c.parts);
          this.set({ camera, kind: 'ok' }, c.ok);
          this.set({ camera, kind: 'ng' }, c.ng);
          this.set({ camera, kind: 'no_verdict' }, c.noVerdict);
          this.set({ camera, kind: 'trigger_errors' }, c.triggerErrors);
        }
      },
    });
    new Gauge({
      name: 'linesight_part_processing_ms',
      help: 'Processing time (trigger to verdict) of the last 1000 parts: min, mean, max',
      labelNames: ['camera', 'stat'],
      registers,
      collect() {
        this.reset();
        for (const [camera, c] of Object.entries(parts().cameras)) {
          if (!c.processingMs) continue;
          for (const stat of ['min', 'mean', 'max'] as const) this.set({ camera, stat }, c.processingMs[stat]);
        }
      },
    });
    new Gauge({
      name: 'linesight_part_reject_rate',
      help: 'Share of the last 1000 parts the PLC was told to reject',
      labelNames: ['camera'],
      registers,
      collect() {
        this.reset();
        for (const [camera, c] of Object.entries(parts().cameras)) if (c.rejectRate !== null) this.set({ camera }, c.rejectRate);
      },
    });
    new Gauge({
      name: 'linesight_trigger_unknown_camera',
      help: 'Triggers naming a camera this device does not have',
      registers,
      collect() {
        this.set(parts().unknownCameraTriggers);
      },
    });
  }

  partDecided(camera: string, verdict: 'ok' | 'reject' | 'no_verdict', latencyMs: number): void {
    this.partLatency.observe({ camera, verdict }, latencyMs / 1000);
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
