/** `linesight run` as a process, as systemd runs it, ready once its HTTP endpoint answers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'linesight.js');

export interface DeviceProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startDevice(configPath: string, httpPort: number, timeoutMs = 60_000): Promise<DeviceProcess> {
  const child = spawn(process.execPath, [BIN, 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LINESIGHT_LOG_LEVEL: 'info' } });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${httpPort}`;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`linesight run exited (${child.exitCode}): ${output}`);
    const up = await fetch(`${url}/health`).then(() => true, () => false);
    if (up) break;
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`linesight run did not answer on ${url} within ${timeoutMs} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    url,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
