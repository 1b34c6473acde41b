/**
 * One camera, read by a supervised ffmpeg child process.
 *
 * States (every change is a `state` event with a reason for technicians):
 *
 *   idle -> starting -> streaming -> exited | stalled -> backoff -> starting ...
 *                  \-> exited | stalled -/            any state -> stopped
 *
 * ffmpeg is restarted whenever it exits (an RTSP reader exits with code 0
 * when the camera goes away) or stays silent longer than `watchdogMs`, after
 * a capped exponential backoff that resets once the stream has been healthy
 * for a while.
 *
 * By default frames never queue up: only the newest frame is kept for the
 * consumer (`next()`); a frame replaced before it was taken counts as
 * dropped. A consumer that must see every frame (part inspection, see
 * runtime/camera-pipeline.ts) sets a queue depth with `setQueueDepth`: up to
 * that many frames wait in arrival order, and only past it is the oldest
 * dropped (and counted).
 *
 * Each frame carries its arrival time (`ts`) and its place in the stream
 * (`stream`: which reader start, which frame of it), from which the camera
 * pipeline times it on the camera's frame clock (ingest/frame-clock.ts).
 * ffmpeg runs and is read on a thread of the camera's own
 * (ingest/reader-thread.ts), so arrival times do not wait for the main
 * thread.
 */
import { monotonicNow } from '../clock.ts';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { CameraSettings } from '../../config/camera-settings.ts';
import { redactSecrets, secretRedactor, urlPassword } from '../../config/secrets.ts';
import type { Frame, FrameSource } from '../camera-pipeline.ts';
import { ffmpegArgs, redactUrl } from './ffmpeg-command.ts';
import { resolveFfmpeg } from './find-ffmpeg.ts';
import { ReaderThread, type ReaderHandle } from './reader-thread.ts';

export type CameraState = 'idle' | 'starting' | 'streaming' | 'stalled' | 'exited' | 'backoff' | 'stopped';

export interface CameraStateChange {
  camera: string;
  state: CameraState;
  previous: CameraState;
  reason: string;
}

export interface CameraStats {
  state: CameraState;
  reason: string;
  frames: number;
  droppedFrames: number;
  /** Reader restarts after the first start. */
  reconnects: number;
  /** Decode errors ffmpeg reported (corrupt or missing data in the stream). */
  decodeErrors: number;
  lastFrameTs: number | null;
  /** Frames per second over the last seconds. */
  fps: number;
}

export interface FfmpegCameraEvents {
  state: [CameraStateChange];
  frame: [Frame];
  /** One line ffmpeg printed on stderr. */
  log: [string];
}

/** A stream healthy this long resets the backoff to its initial delay. */
const HEALTHY_AFTER_MS = 10_000;
/** Time allowed from spawning ffmpeg to the first frame, beyond the watchdog. */
const CONNECT_GRACE_MS = 10_000;
const FPS_WINDOW_MS = 5000;
const DECODE_ERROR = /error while decoding|corrupt|concealing|missing picture|decode_slice|non-existing pps|invalid nal|no frame!|left block unavailable|error at mb/i;

/** Turns ffmpeg's last words into a sentence for technicians. */
export function describeFailure(stderrTail: string[], url: string): string {
  const text = stderrTail.join('\n');
  const where = redactUrl(url);
  if (/Connection refused/i.test(text)) return `cannot connect to ${where} (connection refused: camera off or wrong port)`;
  if (/Connection timed out|timed out|Operation timed out/i.test(text)) return `no answer from ${where} (timed out: check the network and the camera's address)`;
  if (/401|Unauthorized/i.test(text)) return `${where} refused the credentials (401 Unauthorized: check user and password in the url)`;
  if (/404|Not Found/i.test(text)) return `${where} has no such stream (404 Not Found: check the stream path)`;
  if (/No route to host|Network is unreachable/i.test(text)) return `cannot reach ${where} (no route to host)`;
  if (/Name or service not known|Temporary failure in name resolution|Failed to resolve/i.test(text)) return `cannot resolve the host of ${where}`;
  if (/No such file or directory/i.test(text)) return `${where} does not exist`;
  if (/Invalid data found|could not find codec|Unsupported codec/i.test(text)) return `${where} is not a video stream ffmpeg can decode`;
  if (/matches no streams/i.test(text)) return `${where} has no video stream`;
  // ffmpeg's own line may echo the URL, with its password (sometimes percent-decoded).
  const last = stderrTail.at(-1);
  return last ? `stream ${where} ended: ${redactSecrets(last, [urlPassword(url)])}` : `stream ${where} ended`;
}

export class FfmpegCamera extends EventEmitter<FfmpegCameraEvents> implements FrameSource {
  private current: CameraState = 'idle';
  private reason = 'not started';
  private thread: ReaderThread | undefined;
  private child: ReaderHandle | undefined;
  private childExited: Promise<void> | undefined;
  /** Frames not yet taken, oldest first (at most `queueDepth`). */
  private queued: Frame[] = [];
  private queueDepth = 1;
  private waiter: ((frame: Frame | null) => void) | undefined;
  private seq = 0;
  /** Reader starts (the first is 0) and frames the current reader delivered: each frame's `stream` position. */
  private reader = -1;
  private streamIndex = 0;
  private counters = { frames: 0, droppedFrames: 0, reconnects: 0, decodeErrors: 0 };
  private lastFrameTs: number | null = null;
  private recent: number[] = [];
  private failures = 0;
  private streamingSince = 0;
  private spawnedAt = 0;
  private stderrTail: string[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopRequested = false;
  private readonly ffmpeg: { path: string; major: number; minor: number };
  private readonly log?: Logger;
  /** Scrubs the camera's password from every reason and ffmpeg line this camera reports. */
  private readonly redact: (text: string) => string;

  constructor(
    readonly settings: CameraSettings,
    opts: { logger?: Logger; ffmpegPath?: string } = {},
  ) {
    super();
    this.log = opts.logger;
    this.redact = secretRedactor([urlPassword(settings.url)]);
    this.ffmpeg = resolveFfmpeg(opts.ffmpegPath ?? settings.ffmpegPath);
  }

  get id(): string {
    return this.settings.id;
  }

  /** Process id of the running ffmpeg reader, if any. */
  get readerPid(): number | undefined {
    return this.child?.pid;
  }

  get state(): CameraState {
    return this.current;
  }

  private setState(state: CameraState, unredactedReason: string): void {
    const reason = this.redact(unredactedReason);
    const previous = this.current;
    if (previous === state && this.reason === reason) return;
    this.current = state;
    this.reason = reason;
    const line = `camera ${this.id}: ${state} (${reason})`;
    if (state === 'streaming' || state === 'starting' || state === 'stopped' || state === 'idle') this.log?.info({ state }, line);
    else this.log?.warn({ state }, line);
    this.emit('state', { camera: this.id, state, previous, reason });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.watchdog = setInterval(() => this.checkWatchdog(), 250);
    this.watchdog.unref?.();
    this.spawnReader();
  }

  private spawnReader(): void {
    if (this.stopRequested) return;
    this.reader++;
    this.streamIndex = 0;
    this.stderrTail = [];
    this.spawnedAt = monotonicNow();
    this.setState('starting', `opening ${redactUrl(this.settings.url)}`);
    // A thread that failed is replaced at the next start (its reader was reported closed).
    const thread = (this.thread ??= new ReaderThread((err) => {
      if (this.thread === thread) this.thread = undefined;
      this.log?.error({ err }, `camera ${this.id}: reader thread failed: ${this.redact(err.message)}`);
    }));
    let partial = '';
    let closed!: () => void;
    this.childExited = new Promise((resolve) => (closed = resolve));
    const child: ReaderHandle = thread.spawn(this.ffmpeg.path, ffmpegArgs(this.settings, this.ffmpeg), this.settings.width * this.settings.height * 3, {
      frame: (data, arrival) => this.onFrame(data, arrival),
      stderr: (text) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const raw of lines) this.onStderrLine(raw);
      },
      error: (message) => this.stderrTail.push(this.redact(message)),
      close: (code, signal) => {
        closed();
        if (this.child === child) this.child = undefined;
        this.onReaderExit(code, signal);
      },
    });
    this.child = child;
  }

  private onStderrLine(raw: string): void {
    const line = this.redact(raw.trim());
    if (!line) return;
    this.stderrTail.push(line);
    if (this.stderrTail.length > 20) this.stderrTail.shift();
    if (DECODE_ERROR.test(line)) this.counters.decodeErrors++;
    this.emit('log', line);
  }

  private onFrame(data: Buffer, ts: number): void {
    if (this.stopRequested) return;
    const stream = { reader: this.reader, index: this.streamIndex++ };
    const frame: Frame = { cameraId: this.id, seq: this.seq++, ts, stream, width: this.settings.width, height: this.settings.height, data };
    this.counters.frames++;
    this.lastFrameTs = ts;
    this.recent.push(ts);
    while (this.recent.length > 0 && this.recent[0]! < ts - FPS_WINDOW_MS) this.recent.shift();
    if (this.current !== 'streaming') {
      this.streamingSince = ts;
      this.setState('streaming', `receiving ${this.settings.width}x${this.settings.height} frames from ${redactUrl(this.settings.url)}`);
    } else if (this.failures > 0 && ts - this.streamingSince > HEALTHY_AFTER_MS) {
      this.failures = 0;
    }
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = undefined;
      resolve(frame);
    } else {
      this.queued.push(frame);
      while (this.queued.length > this.queueDepth) {
        this.queued.shift();
        this.counters.droppedFrames++;
      }
    }
    this.emit('frame', frame);
  }

  private checkWatchdog(): void {
    if (this.stopRequested) return;
    const now = monotonicNow();
    const { watchdogMs } = this.settings;
    if (this.current === 'streaming' && this.lastFrameTs !== null && now - this.lastFrameTs > watchdogMs) {
      this.setState('stalled', `no frame for ${(watchdogMs / 1000).toFixed(1)} s from ${redactUrl(this.settings.url)}`);
      this.killReader();
    } else if (this.current === 'starting' && now - this.spawnedAt > watchdogMs + CONNECT_GRACE_MS) {
      this.setState('stalled', `no frame within ${((watchdogMs + CONNECT_GRACE_MS) / 1000).toFixed(0)} s of opening ${redactUrl(this.settings.url)}`);
      this.killReader();
    }
  }

  private killReader(): void {
    const child = this.child;
    if (!child || child.exited) return;
    child.kill('SIGTERM');
    const hard = setTimeout(() => !child.exited && child.kill('SIGKILL'), 2000);
    hard.unref?.();
    void this.childExited?.then(() => clearTimeout(hard));
  }

  private onReaderExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopRequested) return;
    const why = this.current === 'stalled' ? this.reason : describeFailure(this.stderrTail, this.settings.url);
    if (this.current !== 'stalled') this.setState('exited', `${why}${code !== null && code !== 0 ? ` (ffmpeg exit ${code})` : signal ? ` (${signal})` : ''}`);
    this.failures++;
    const { initialMs, maxMs } = this.settings.backoff;
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures - 1, 20));
    this.setState('backoff', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.counters.reconnects++;
      this.spawnReader();
    }, delay);
  }

  /** How many frames may wait for `next()` (1: only the newest). */
  setQueueDepth(frames: number): void {
    if (!Number.isInteger(frames) || frames < 1) throw new Error(`camera ${this.id}: queue depth must be a whole number >= 1, got ${frames}`);
    this.queueDepth = frames;
  }

  /** The oldest frame not yet taken (the newest when the queue depth is 1; waits for one); null once stopped. */
  next(): Promise<Frame | null> {
    if (this.stopRequested) return Promise.resolve(null);
    const frame = this.queued.shift();
    if (frame) return Promise.resolve(frame);
    if (this.waiter) throw new Error(`camera ${this.id}: next() called again before the previous frame arrived`);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  stats(): CameraStats {
    const now = monotonicNow();
    const window = Math.min(FPS_WINDOW_MS, Math.max(1000, now - this.streamingSince));
    const recent = this.current === 'streaming' ? this.recent.filter((t) => t >= now - window).length : 0;
    return { state: this.current, reason: this.reason, ...this.counters, lastFrameTs: this.lastFrameTs, fps: Math.round((recent / window) * 1000 * 100) / 100 };
  }

  /** Stops the reader (SIGTERM, then SIGKILL) and resolves when it is gone. */
  async stop(): Promise<void> {
    if (this.stopRequested) {
      await this.childExited;
      return;
    }
    this.stopRequested = true;
    this.setState('stopped', 'stopped');
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    this.killReader();
    this.queued = [];
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(null);
    if (this.child) await this.childExited;
    await this.thread?.close();
    this.thread = undefined;
  }
}
