/**
 * Runs Debian's mosquitto for tests: its own config in a temp dir, a free
 * port on 127.0.0.1, stop()/start() on the same port for outage tests, and a
 * TLS variant (CA, server and client certificates made with openssl, client
 * certificate required, user name + password).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../fixtures/free-port.ts';
import { assertToolInstalled, SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';

export { freePort };

const run = promisify(execFile);

export const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface MosquittoTls {
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  username: string;
  password: string;
}

export interface MosquittoOptions {
  /** TLS listener requiring a client certificate and a password. */
  tls?: boolean;
  /**
   * Keep sessions and queued messages across stop()/start() (written to the
   * temp dir on stop). Outage tests use it so a subscriber's session, and the
   * messages published while it reconnects, survive the broker restart.
   */
  persistence?: boolean;
  /** More mosquitto.conf lines (e.g. `queue_qos0_messages true`). */
  extraConfig?: string[];
}

export interface Mosquitto {
  url: string;
  port: number;
  dir: string;
  tls?: MosquittoTls;
  readonly running: boolean;
  /** Process id of the running broker (to pause it with SIGSTOP / SIGCONT). */
  readonly pid: number | undefined;
  /** Starts the broker again on the same port. */
  start(): Promise<void>;
  /** Stops the broker (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** Stops the broker and removes its temp dir. */
  dispose(): Promise<void>;
  /** What mosquitto logged (for failure messages). */
  log(): string;
}

async function makeCertificates(dir: string): Promise<{ ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string }> {
  const p = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=linesight test CA']);
  await writeFile(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'linesight-device']] as const) {
    await run('openssl', ['req', ...ec, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await run('openssl', ['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '2', '-extfile', p(`${name}.ext`)]);
  }
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  assertToolInstalled(MOSQUITTO, SYSTEM_DEPS_HINT);
  if (options.tls) assertToolInstalled(MOSQUITTO_PASSWD, SYSTEM_DEPS_HINT);
  const dir = await mkdtemp(join(tmpdir(), 'linesight-mosquitto-'));
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    // Started as root, mosquitto drops to the `mosquitto` user, which can neither read the
    // root-owned TLS key nor write the persistence file in the root-owned temp dir.
    // (Ignored when the tests do not run as root.)
    'user root',
  ];
  if (options.persistence) lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 0');
  else lines.push('persistence false');
  lines.push(...(options.extraConfig ?? []));
  let tls: MosquittoTls | undefined;
  if (options.tls) {
    const certs = await makeCertificates(dir);
    tls = { caFile: certs.ca, clientCertFile: certs.clientCert, clientKeyFile: certs.clientKey, username: 'plc-gateway', password: 'right-password' };
    await run(MOSQUITTO_PASSWD, ['-b', '-c', join(dir, 'passwd'), tls.username, tls.password]);
    lines.push(
      `cafile ${certs.ca}`,
      `certfile ${certs.serverCert}`,
      `keyfile ${certs.serverKey}`,
      'require_certificate true',
      'allow_anonymous false',
      `password_file ${join(dir, 'passwd')}`,
    );
  } else {
    lines.push('allow_anonymous true');
  }
  const configFile = join(dir, 'mosquitto.conf');
  await writeFile(configFile, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    if (child) return;
    const proc = spawn(MOSQUITTO, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + 5000;
    while (!(await canConnect(port))) {
      if (exited) throw new Error(`mosquitto exited at start:\n${output}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on port ${port} within 5 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  };

  await start();
  return {
    url: `${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    dir,
    ...(tls ? { tls } : {}),
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    start,
    stop,
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}
