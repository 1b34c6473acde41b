/**
 * A real RTSP camera on 127.0.0.1: GStreamer's RTSP server (Debian package)
 * fed by ffmpeg, which plays a video file at real-time rate, looping, as
 * H.264 RTP. The server can be killed and started again on the same port
 * (a camera rebooting) while the feed keeps running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { resolveFfmpeg } from '../../runtime/ingest/find-ffmpeg.ts';
import { freePort } from './mosquitto.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, '..', 'fixtures', 'rtsp_camera.py');

export interface RtspCamera {
  url: string;
  port: number;
  /** Kills the RTSP server (SIGKILL), as a camera losing power. */
  kill(): Promise<void>;
  /** Starts the RTSP server again on the same port. */
  restart(): Promise<void>;
  /** Stops server and feed. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

export async function startRtspCamera(opts: { video?: string; path?: string; fps?: number; size?: string } = {}): Promise<RtspCamera> {
  const port = await freePort();
  const udpPort = await freePort();
  const path = opts.path ?? '/line';
  const serverArgs = opts.video ? ['--udp-port', String(udpPort)] : ['--pattern', '--fps', String(opts.fps ?? 15), '--size', opts.size ?? '224x224'];
  let server: ChildProcess | undefined;

  const startServer = async () => {
    const child = spawn(PYTHON, [SCRIPT, '--port', String(port), '--path', path, ...serverArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`RTSP server did not start within 10 s: ${output}`)), 10_000);
      child.stdout!.on('data', (d) => {
        output += d;
        if (output.includes('ready ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (d) => (output += d));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`RTSP server exited (${code}): ${output}`));
      });
    });
  };

  let feed: ChildProcess | undefined;
  if (opts.video) {
    const ffmpeg = resolveFfmpeg().path;
    // Re-encoded rather than copied: a copied mp4 stream breaks at the first loop (the Annex-B
    // filter refuses packets after EOF), and repeated headers let a client join at any keyframe.
    const encode = ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-crf', '12', '-g', '15', '-bf', '0', '-x264-params', 'repeat-headers=1'];
    feed = spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', opts.video, '-an', ...encode, '-f', 'rtp', `rtp://127.0.0.1:${udpPort}?pkt_size=1200`], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
  }
  try {
    await startServer();
  } catch (err) {
    feed?.kill('SIGKILL');
    throw err;
  }
  return {
    url: `rtsp://127.0.0.1:${port}${path}`,
    port,
    async kill() {
      if (!server) return;
      server.kill('SIGKILL');
      await exited(server);
      server = undefined;
    },
    restart: startServer,
    async stop() {
      server?.kill('SIGKILL');
      feed?.kill('SIGKILL');
      await Promise.all([server && exited(server), feed && exited(feed)]);
      server = undefined;
    },
  };
}
