/**
 * A real RTSP camera on 127.0.0.1: GStreamer's RTSP server (Debian package)
 * streaming an H.264 video made by ffmpeg at real-time rate (once: make the
 * video as long as the stream is needed), or a live test pattern. The server
 * can be killed and started again on the same port (a camera rebooting).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
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
  /** Process id of the server (to freeze it with SIGSTOP, as a hung camera). */
  pid(): number | undefined;
  /** Stops the server. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

export async function startRtspCamera(opts: { video?: string; path?: string; fps?: number; size?: string } = {}): Promise<RtspCamera> {
  const port = await freePort();
  const path = opts.path ?? '/line';
  const serverArgs = opts.video ? ['--file', opts.video] : ['--pattern', '--fps', String(opts.fps ?? 15), '--size', opts.size ?? '224x224'];
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

  await startServer();
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
    pid: () => server?.pid,
    async stop() {
      server?.kill('SIGKILL');
      if (server) await exited(server);
      server = undefined;
    },
  };
}
