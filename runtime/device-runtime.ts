/**
 * The streaming runtime of one device: its cameras, the products they score,
 * their part trackers (one verdict per part, runtime/parts/), the MQTT
 * publisher (and the embedded broker when no broker is configured), the
 * health endpoint and the systemd watchdog, started and stopped as one.
 *
 * Parts: triggers arrive on `<prefix>/<device>/<camera>/trigger` (and through
 * `trigger()`, for the HTTP API), counter resets on `.../counters/reset` (and
 * `resetCounters()`); deadlines are applied every PART_TICK_MS; each camera's
 * counters are published retained on `.../counters` after every part and
 * every health interval.
 *
 * Start-up checks everything that can be checked before touching the line:
 * the config (already validated), every product's artifact, the ffmpeg
 * binary, the broker and HTTP ports. Anything wrong is one clear error and
 * nothing is left running.
 */
import { availableParallelism } from 'node:os';
import { monotonicNow } from './clock.ts';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.ts';
import { createLogger } from '../config/logger.ts';
import { rejectOutboxDir } from '../config/mqtt.ts';
import { redactDeep, secretRedactor, urlPassword } from '../config/secrets.ts';
import { cameraPartsSettings, type DeviceConfig, type StationConfig } from '../config/device.ts';
import { startDeviceServices, type DeviceServices } from './device-services.ts';
import { CameraPipeline, type Frame, type ScoredFrame } from './camera-pipeline.ts';
import { PartLine, type TriggerResult } from './parts/part-line.ts';
import type { PartCountersPayload, PartVerdictPayload } from './parts/payloads.ts';
import { allCamerasFilter, parseCommandTopic } from './mqtt/topics.ts';
import { healthProblems, type CameraHealth, type DeviceHealth } from './health.ts';
import { startHealthServer, type HealthServer } from './health-server.ts';
import { FfmpegCamera } from './ingest/ffmpeg-camera.ts';
import { resolveFfmpeg } from './ingest/find-ffmpeg.ts';
import { RuntimeMetrics } from './metrics.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from './mqtt/embedded-broker.ts';
import { embeddedBrokerOptions, runtimeClientConfig } from './mqtt/embedded-broker-options.ts';
import { MqttPublisher } from './mqtt/publisher.ts';
import { ProductLibrary } from './product-library.ts';
import { ScoringLane } from './scoring/scoring-lane.ts';
import { ScoringThread, scoringThreadInference } from './scoring/scoring-thread.ts';
import { configureImageLibraryForRuntime } from '../product/image-io.ts';
import { SharedModels } from '../product/shared-models.ts';
import { createSystemdNotifier } from './systemd-notify.ts';
import type { WebApp } from './web/web-app.ts';
import { LINESIGHT_VERSION } from './version.ts';

export interface RuntimeOptions {
  logger?: Logger;
  /** Called for every scored frame (the demo prints from it). */
  onScored?: (frame: ScoredFrame) => void;
  /** Called for every frame a camera delivers, scored or not (benchmarks time their simulated PLC by it). */
  onFrame?: (frame: Frame) => void;
}

/** How often part deadlines are checked, ms. */
export const PART_TICK_MS = 20;

interface Camera {
  station: StationConfig;
  source: FfmpegCamera;
  pipeline: CameraPipeline;
}

/** The scoring threads the inference settings ask for (none: frames are scored on the main thread). */
function startScoringThreads(config: DeviceConfig, log: Logger): ScoringThread[] {
  const settings = scoringThreadInference(config.inference, availableParallelism());
  return settings.map((inference, i) => {
    const name = settings.length > 1 ? `scoring thread ${i + 1} of ${settings.length}` : 'the scoring thread';
    return new ScoringThread({ dataDir: config.dataDir, inference }, (err) => log.error({ err }, `${name} stopped (${err.message}); it starts again with the next frame`));
  });
}

/** Every password and token in the config: none of them may appear in health output or logs. */
function deviceSecrets(config: DeviceConfig): string[] {
  const m = config.mqtt;
  const found = [
    m.password,
    m.url && urlPassword(m.url),
    m.embeddedBroker.password,
    config.http.auth?.token,
    config.http.auth?.password,
    config.fleet.fetchToken,
    ...config.opcua.users.map((u) => u.password),
    ...config.cameras.map((c) => urlPassword(c.url)),
  ];
  return found.filter((s): s is string => typeof s === 'string' && s.length > 0);
}

export class DeviceRuntime {
  private healthTimer: NodeJS.Timeout | undefined;
  private partTimer: NodeJS.Timeout | undefined;
  private readonly partListeners = new Set<(part: PartVerdictPayload) => void>();
  private stopWatchdog: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private services: DeviceServices | undefined;
  private readonly redact: (text: string) => string;

  private constructor(
    readonly config: DeviceConfig,
    private readonly log: Logger,
    readonly products: ProductLibrary,
    readonly publisher: MqttPublisher,
    private readonly broker: EmbeddedBroker | undefined,
    private readonly cameras: Camera[],
    private readonly line: PartLine,
    readonly metrics: RuntimeMetrics,
    private http: HealthServer | undefined,
    private web: WebApp | undefined,
    private readonly notifier: ReturnType<typeof createSystemdNotifier>,
  ) {
    this.redact = secretRedactor(deviceSecrets(config));
  }

  static async start(config: DeviceConfig, options: RuntimeOptions = {}): Promise<DeviceRuntime> {
    const log = options.logger ?? createLogger('runtime');
    // Process-wide library settings for a long run, before anything uses them.
    configureImageLibraryForRuntime();
    if (config.cameras.length === 0) {
      throw new ConfigError('the config has no cameras: add a "cameras:" list (each with id, url and product)');
    }
    const ffmpeg = resolveFfmpeg(config.cameras.find((c) => c.ffmpegPath)?.ffmpegPath);
    log.info({ ffmpeg: ffmpeg.path, source: ffmpeg.source }, `decoding cameras with ${ffmpeg.source} ffmpeg ${ffmpeg.path}`);

    const scoringThreads = startScoringThreads(config, log);
    const products = new ProductLibrary(new SharedModels(config.dataDir, config.inference), log.child({ part: 'products' }), scoringThreads);
    const cleanups: (() => Promise<unknown>)[] = [() => products.close()];
    const undo = async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    };
    try {
      await products.load(config.cameras.map((c) => c.product));

      let broker: EmbeddedBroker | undefined;
      if (!config.mqtt.url) {
        broker = await startEmbeddedBroker({ ...embeddedBrokerOptions(config.mqtt, config.dataDir), logger: log.child({ part: 'broker' }) });
        cleanups.push(() => broker!.close());
      }
      const publisher = new MqttPublisher({
        config: runtimeClientConfig(config.mqtt),
        url: broker?.url,
        outboxDir: rejectOutboxDir(config.mqtt, config.dataDir),
        device: { version: LINESIGHT_VERSION, cameras: config.cameras.map((c) => c.id), products: [...new Set(config.cameras.map((c) => c.product))] },
        logger: log.child({ part: 'mqtt' }),
      });
      await publisher.start();
      cleanups.push(() => publisher.close({ timeoutMs: 2000 }));

      const lanes = Array.from({ length: Math.max(1, scoringThreads.length) }, (_, index) => new ScoringLane({ index }));
      const line = new PartLine(config.cameras.map((station) => ({ camera: station.id, product: station.product, settings: cameraPartsSettings(config, station) })));
      const cameras: Camera[] = config.cameras.map((station, i) => {
        const camLog = log.child({ camera: station.id });
        const source = new FfmpegCamera(station, { logger: camLog, ffmpegPath: station.ffmpegPath ?? ffmpeg.path });
        const decision = { ...config.decision, ...station.decision };
        const tracker = line.tracker(station.id)!;
        const pipeline = new CameraPipeline(
          { id: station.id, product: station.product, fps: station.fps, decision, parts: cameraPartsSettings(config, station), publishMasks: station.publishMasks, refine: config.refine },
          source,
          products,
          publisher,
          lanes[i % lanes.length]!,
          camLog,
          tracker,
        );
        return { station, source, pipeline };
      });

      // Metrics read the runtime's health and part counters at scrape time.
      let runtime: DeviceRuntime | undefined;
      const metrics = new RuntimeMetrics(() => runtime!.health(), () => ({ cameras: runtime!.partCounters(), unknownCameraTriggers: line.unknownCameraTriggers }));
      runtime = new DeviceRuntime(config, log, products, publisher, broker, cameras, line, metrics, undefined, undefined, createSystemdNotifier({ logger: log }));
      if (config.http.enabled) {
        // The UI's code is loaded only when it is served.
        const web = config.http.ui
          ? (await import('./web/web-app.ts')).createWebApp(
              {
                config,
                health: () => runtime!.health(),
                cameras: cameras.map((c) => ({ id: c.station.id, product: c.station.product, source: c.source, pipeline: c.pipeline })),
                parts: { trigger: (camera, payload) => runtime!.trigger(camera, payload), resetCounters: (camera) => runtime!.resetCounters(camera), counters: () => runtime!.partCounters() },
              },
              { logger: log.child({ part: 'web' }), host: config.http.host, allowedHosts: config.http.allowedHosts, tls: config.http.tls },
            )
          : undefined;
        runtime.web = web;
        if (web) cleanups.push(() => web.close());
        const http = await startHealthServer({ host: config.http.host, port: config.http.port, health: () => runtime!.health(), metrics, handle: web?.handle, tls: config.http.tls, secrets: deviceSecrets(config) });
        runtime.http = http;
        cleanups.push(() => http.close());
        log.info(`${web ? `web UI at ${http.url}/, ` : ''}health at ${http.url}/health, metrics at ${http.url}/metrics`);
      }
      const services = await startDeviceServices(runtime, config, { logger: log, brokerUrl: broker?.url, softwareVersion: LINESIGHT_VERSION });
      runtime.services = services;
      cleanups.push(() => services.close());
      runtime.wire(options);
      return runtime;
    } catch (err) {
      await undo();
      throw err;
    }
  }

  private wire(options: RuntimeOptions): void {
    for (const camera of this.cameras) {
      camera.pipeline.on('scored', (scored) => {
        this.metrics.frameScored(scored.camera, scored.result.verdict, scored.result.latencyMs);
        if (scored.reject) this.metrics.rejectDecided(scored.camera);
        this.services?.onScored(scored);
        options.onScored?.(scored);
      });
      camera.pipeline.on('part', (part) => this.onPart(part));
      const onFrame = options.onFrame;
      if (onFrame) camera.source.on('frame', (frame) => onFrame(frame));
      camera.source.on('state', (change) => camera.pipeline.tracker.setCameraUp(change.state === 'streaming'));
      camera.pipeline.start();
    }
    this.wireParts();
    this.publisher.on('rejectAcked', (ack) => this.metrics.rejectAcked(ack.camera, ack.ackedAt - ack.frameTs));
    this.products.on('swap', (swap) => this.log.info(swap, `product ${swap.product} hot-swapped to ${swap.to}`));
    this.products.on('enrolled', (e) => this.log.info(e, `product ${e.product} ${e.version} activated: its cameras start scoring`));
    this.products.watch(this.config.productPollMs);
    this.healthTimer = setInterval(() => this.publishHealth(), this.config.healthIntervalMs);
    this.healthTimer.unref();
    const waiting = this.products.waitingProducts();
    void this.notifier.ready(`scoring ${this.cameras.length} camera(s)${waiting.length ? `; not enrolled yet: ${waiting.join(', ')}` : ''}`);
    // The watchdog guards the process itself (event loop alive); cameras and the broker recover on their own.
    this.stopWatchdog = this.notifier.startWatchdog(() => this.stopping === undefined);
  }

  /** Part triggers and counter resets over MQTT, and the deadline clock. */
  private wireParts(): void {
    const { prefix, deviceId } = this.config.mqtt;
    if (this.cameras.some((c) => c.pipeline.partMode)) {
      this.publisher.subscribe(allCamerasFilter(prefix, deviceId, 'trigger'));
    }
    this.publisher.subscribe(allCamerasFilter(prefix, deviceId, 'counters/reset'));
    this.publisher.on('message', (topic, payload) => {
      const command = parseCommandTopic(prefix, deviceId, topic);
      if (!command) return;
      let body: unknown;
      try {
        body = payload.length === 0 ? {} : JSON.parse(payload.toString('utf8'));
      } catch {
        body = undefined; // refused by the trigger schema below, and counted
      }
      if (command.kind === 'trigger') this.trigger(command.camera, body);
      else if (!this.resetCounters(command.camera)) this.log.warn({ topic }, `counter reset for unknown camera ${command.camera}`);
    });
    this.partTimer = setInterval(() => {
      const now = monotonicNow();
      for (const c of this.cameras) void c.pipeline.tick(now);
    }, PART_TICK_MS);
    this.partTimer.unref();
  }

  /**
   * A part trigger for `camera` (from MQTT, or the HTTP API): opens the part's
   * window; its verdict is published when decided. Trigger errors are counted,
   * logged and published with the camera's counters.
   */
  trigger(camera: string, payload: unknown): TriggerResult {
    const result = this.line.trigger(camera, payload, monotonicNow());
    const cam = this.cameras.find((c) => c.station.id === camera);
    if (cam) void cam.pipeline.deliver(result.verdicts);
    if (!result.ok) {
      this.log.warn({ camera, error: result.error }, `trigger for camera ${camera} refused or cut short: ${result.message}`);
      if (cam) this.publishCounters(camera);
    }
    return result;
  }

  /** Zeroes a camera's part counters (MQTT `counters/reset`, or the HTTP API); false for an unknown camera. */
  resetCounters(camera: string): boolean {
    const tracker = this.line.tracker(camera);
    if (!tracker) return false;
    tracker.resetCounters();
    this.log.info({ camera }, `part counters of camera ${camera} reset`);
    this.publishCounters(camera);
    return true;
  }

  /** Every camera's part counters (as published on `<camera>/counters`). */
  partCounters(): Record<string, PartCountersPayload> {
    const ts = Date.now();
    return Object.fromEntries(this.cameras.map((c) => [c.station.id, { ts, ...c.pipeline.tracker.counts() }]));
  }

  /**
   * The last frame a camera's pipeline took: its number since the camera
   * started and its time on the camera's frame clock (what part windows are
   * measured in); null before the first frame or for an unknown camera.
   */
  lastFrame(camera: string): { seq: number; ts: number } | null {
    return this.cameras.find((c) => c.station.id === camera)?.pipeline.lastFrame() ?? null;
  }

  /** Calls `listener` with every part verdict once it is stored (e.g. for OPC UA); returns the unsubscribe function. */
  onPartVerdict(listener: (part: PartVerdictPayload) => void): () => void {
    this.partListeners.add(listener);
    return () => this.partListeners.delete(listener);
  }

  private onPart(part: PartVerdictPayload): void {
    this.metrics.partDecided(part.camera, part.verdict, part.latencyMs);
    if (part.action === 'reject') this.metrics.rejectDecided(part.camera);
    this.publishCounters(part.camera);
    for (const listener of this.partListeners) {
      try {
        listener(part);
      } catch (err) {
        this.log.error({ err }, `a part verdict listener failed: ${(err as Error).message}`);
      }
    }
  }

  private publishCounters(camera: string): void {
    const tracker = this.line.tracker(camera);
    if (!tracker || this.publisher.state === 'closed') return;
    try {
      this.publisher.publishCounters(camera, { ts: Date.now(), ...tracker.counts() });
    } catch (err) {
      this.log.debug({ err }, `counters of camera ${camera} not published: ${(err as Error).message}`);
    }
  }

  get healthUrl(): string | undefined {
    return this.http?.url;
  }

  get brokerUrl(): string {
    return this.broker?.url ?? this.config.mqtt.url!;
  }

  private cameraHealth(camera: Camera): CameraHealth {
    const source = camera.source.stats();
    const versions = this.products.versions();
    return {
      id: camera.station.id,
      product: camera.station.product,
      modelVersion: versions[camera.station.product] ?? null,
      state: source.state,
      reason: source.state === 'streaming' ? undefined : source.reason,
      fps: source.fps,
      frames: source.frames,
      droppedFrames: source.droppedFrames,
      reconnects: source.reconnects,
      decodeErrors: source.decodeErrors,
      lastFrameTs: source.lastFrameTs ?? null,
      ...camera.pipeline.stats(),
    };
  }

  /** The device's state for /health, the web UI and metrics, with every credential scrubbed from its texts. */
  health(): DeviceHealth {
    return redactDeep(this.rawHealth(), this.redact);
  }

  private rawHealth(): DeviceHealth {
    const p = this.publisher.stats();
    const mqtt = { state: p.state, pendingRejects: p.pendingRejects, pendingParts: p.pendingParts, sentParts: p.sentParts, sentRejects: p.sentRejects, refusedRejects: p.refusedRejects, quarantinedRejects: p.quarantinedRejects, reconnects: p.reconnects, lastError: p.lastError };
    const cameras = this.cameras.map((c) => this.cameraHealth(c));
    const problems = [...healthProblems(mqtt, cameras), ...(this.services?.healthWarnings() ?? [])];
    return {
      status: problems.length === 0 ? 'ok' : 'degraded',
      problems,
      device: this.config.mqtt.deviceId,
      version: LINESIGHT_VERSION,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      mqtt,
      products: this.products.versions(),
      cameras,
    };
  }

  private publishHealth(): void {
    for (const c of this.health().cameras) {
      this.publisher.publishHealth(c.id, {
        ts: Date.now(),
        fps: c.fps,
        decodeErrors: c.decodeErrors,
        reconnects: c.reconnects,
        droppedFrames: c.droppedFrames,
        p50Ms: c.p50Ms,
        p99Ms: c.p99Ms,
      });
      if (this.line.tracker(c.id)?.mode !== 'frames') this.publishCounters(c.id);
    }
  }

  /**
   * Graceful stop (SIGTERM): cameras stop, the frame being scored finishes and
   * its reject is stored, the outbox is flushed to the broker (within
   * `flushTimeoutMs`; what is left stays on disk for the next start), the
   * retained status turns offline.
   */
  stop(options: { flushTimeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping: finishing the frames being scored');
      this.stopWatchdog?.();
      await this.notifier.stopping();
      clearInterval(this.healthTimer);
      await Promise.all(this.cameras.map((c) => c.pipeline.stop()));
      clearInterval(this.partTimer);
      await this.services?.close();
      this.publishHealth();
      await this.publisher.close({ timeoutMs: options.flushTimeoutMs ?? 10_000 });
      await this.web?.close();
      await this.http?.close();
      await this.broker?.close();
      await this.products.close();
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
