/**
 * A two-node RabbitMQ cluster with the MQTT plugin on loopback, for tests of
 * the device against a plant's clustered broker: Debian's rabbitmq-server,
 * each node with its own name, ports and folders in a temp dir owned by the
 * `rabbitmq` user, one Erlang cookie for the pair, node B joined to node A,
 * and the MQTT plugin's session queues mirrored on both nodes (classic
 * mirrored queues: a quorum queue needs a majority, which two nodes lose when
 * one stops). A node can be stopped and started again; dispose() stops only
 * the processes started here (and epmd, when it was started here).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../fixtures/free-port.ts';
import { assertToolInstalled, SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';

const run = promisify(execFile);

export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
const EPMD = '/usr/bin/epmd';
const EPMD_PORT = 4369;
/** The policy that mirrors every MQTT session queue on every node, synchronised as soon as a node comes back. */
export const MQTT_MIRROR_POLICY = { pattern: '^mqtt-subscription-', definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' } };
const START_TIMEOUT_MS = 60_000;

export type NodeKey = 'a' | 'b';

export interface RabbitNode {
  key: NodeKey;
  /** Erlang node name, e.g. `ls-123-1-a@localhost`. */
  name: string;
  mqttPort: number;
  amqpPort: number;
  distPort: number;
  /** MQTT URL of this node (guest/guest is accepted on loopback). */
  url: string;
  readonly running: boolean;
}

export interface RabbitCluster {
  a: RabbitNode;
  b: RabbitNode;
  /** The account every MQTT client logs in with. */
  username: string;
  password: string;
  /** Stops a node the way an operator does (`rabbitmqctl shutdown`, which waits until it is gone). */
  stop(key: NodeKey): Promise<void>;
  /**
   * Kills a node (SIGKILL, as in a crash or a power cut): it neither leaves the
   * MQTT plugin's registry nor closes its connections. With two nodes, a
   * node killed this way is slow to rejoin (docs/BROKER-CLUSTER.md).
   */
  crash(key: NodeKey): Promise<void>;
  /** Starts a stopped node again; resolves once it runs, is back in the cluster and listens for MQTT (default limit 60 s). */
  start(key: NodeKey, timeoutMs?: number): Promise<void>;
  /** Names of the nodes that run and are clustered, as node A or B (whichever runs) sees them. */
  runningNodes(): Promise<string[]>;
  /** Runs rabbitmqctl against a node; resolves with its output. */
  ctl(key: NodeKey, args: string[]): Promise<string>;
  /** Stops every process started here and removes the temp dir. */
  dispose(): Promise<void>;
  /** The last lines a node logged (for failure messages). */
  log(key: NodeKey): string;
}

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The uid and gid processes run as: the `rabbitmq` user when started as root (rabbitmq-server refuses root-owned state). */
async function serviceAccount(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'rabbitmq']), run('id', ['-g', 'rabbitmq'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function chownTree(path: string, account: { uid: number; gid: number } | undefined): Promise<void> {
  if (account) await run('chown', ['-R', `${account.uid}:${account.gid}`, path]);
}

/** Kills a process group started with `detached: true` (the node's shell, beam and its helpers). */
function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Resolves once no process of the group led by `pid` is left (the node's beam outlives its shell by a moment). */
async function groupGone(pid: number | undefined, timeoutMs = 10_000): Promise<void> {
  if (pid === undefined) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) return;
    await sleep(50);
  }
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

interface NodeProcess {
  node: RabbitNode;
  state: { running: boolean };
  dir: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess | undefined;
  output: string[];
}

async function prepareNode(key: NodeKey, root: string, tag: string, cookie: string): Promise<NodeProcess> {
  const dir = join(root, key);
  await mkdir(dir);
  const [amqpPort, mqttPort, distPort] = [await freePort(), await freePort(), await freePort()];
  await writeFile(join(dir, 'enabled_plugins'), '[rabbitmq_mqtt].\n');
  const conf = [
    `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
    `mqtt.listeners.tcp.default = 127.0.0.1:${mqttPort}`,
    // The listeners are on 127.0.0.1 only; the default guest account may log in on them.
    'loopback_users = none',
    'mqtt.allow_anonymous = false',
    // Session queues are classic queues; the mirror policy replicates them (see MQTT_MIRROR_POLICY).
    'mqtt.durable_queue_type = classic',
    // Without it the plugin's MQTT <-> AMQP topic mapping turns "spBv1.0/..." into "spBv1/0/...".
    'mqtt.sparkplug = true',
    'log.console = true',
    'log.console.level = info',
    'log.file = false',
  ];
  await writeFile(join(dir, 'rabbitmq.conf'), `${conf.join('\n')}\n`);
  const state = { running: false };
  const node: RabbitNode = {
    key,
    name: `ls-${tag}-${key}@localhost`,
    mqttPort,
    amqpPort,
    distPort,
    url: `mqtt://127.0.0.1:${mqttPort}`,
    get running() {
      return state.running;
    },
  };
  return {
    node,
    state,
    dir,
    child: undefined,
    output: [],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      LANG: 'C.UTF-8',
      RABBITMQ_NODENAME: node.name,
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
      RABBITMQ_NODE_PORT: String(amqpPort),
      RABBITMQ_DIST_PORT: String(distPort),
      // One scheduler each: the nodes share a small machine with the device under test.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-setcookie ${cookie} +S 1:1 +SDio 2`,
    },
  };
}

export async function startRabbitCluster(): Promise<RabbitCluster> {
  assertToolInstalled(RABBITMQ_SERVER, SYSTEM_DEPS_HINT);
  const account = await serviceAccount();
  const root = await mkdtemp(join(tmpdir(), 'linesight-rabbitmq-'));
  const tag = `${process.pid}-${Date.now() % 100_000}`;
  const cookie = `linesighttest${tag.replace(/\D/g, '')}`;
  const nodes = { a: await prepareNode('a', root, tag, cookie), b: await prepareNode('b', root, tag, cookie) };
  await chownTree(root, account);

  // epmd maps node names to ports; start one (and own it) unless one already runs.
  let epmd: ChildProcess | undefined;
  if (!(await canConnect(EPMD_PORT))) {
    epmd = spawn(EPMD, [], { stdio: 'ignore', ...(account ?? {}) });
    const deadline = Date.now() + 5000;
    while (!(await canConnect(EPMD_PORT))) {
      if (Date.now() > deadline) throw new Error('epmd did not listen on port 4369 within 5 s');
      await sleep(20);
    }
  }

  const ctl = async (key: NodeKey, args: string[], timeoutMs = 60_000): Promise<string> => {
    const { stdout } = await run(RABBITMQCTL, ['--erlang-cookie', cookie, '-q', '-n', nodes[key].node.name, ...args], {
      // The node's own environment: the CLI finds the MQTT plugin's commands through its enabled plugins file.
      env: nodes[key].env,
      timeout: timeoutMs,
    });
    return stdout;
  };

  const setRunning = (p: NodeProcess, running: boolean) => (p.state.running = running);

  const waitForMqtt = async (p: NodeProcess, timeoutMs = START_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const child = p.child;
    while (!(await canConnect(p.node.mqttPort))) {
      if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`RabbitMQ node ${p.node.name} exited at start:\n${p.output.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`RabbitMQ node ${p.node.name} did not listen for MQTT on ${p.node.mqttPort} within ${timeoutMs / 1000} s:\n${p.output.slice(-30).join('\n')}`);
      await sleep(100);
    }
  };

  const launch = async (p: NodeProcess, timeoutMs?: number): Promise<void> => {
    if (p.child) return;
    const child = spawn(RABBITMQ_SERVER, [], { cwd: p.dir, env: p.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...(account ?? {}) });
    p.child = child;
    const keep = (d: Buffer) => {
      p.output.push(...d.toString().trimEnd().split('\n'));
      if (p.output.length > 400) p.output.splice(0, p.output.length - 400);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', () => {
      if (p.child === child) {
        p.child = undefined;
        setRunning(p, false);
      }
    });
    await waitForMqtt(p, timeoutMs);
    setRunning(p, true);
  };

  const runningNodes = async (): Promise<string[]> => {
    const key: NodeKey = nodes.a.node.running ? 'a' : 'b';
    const status = JSON.parse(await ctl(key, ['cluster_status', '--formatter', 'json'])) as { running_nodes?: string[] };
    return [...(status.running_nodes ?? [])].sort();
  };

  const waitForCluster = async (timeoutMs = START_TIMEOUT_MS): Promise<void> => {
    const want = [nodes.a.node.name, nodes.b.node.name].sort();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = await runningNodes().catch(() => []);
      if (running.join() === want.join()) return;
      if (Date.now() > deadline) throw new Error(`the cluster runs ${running.join(', ') || 'no node'}, not both of ${want.join(', ')}`);
      await sleep(200);
    }
  };

  const stopProcess = async (p: NodeProcess, signal: NodeJS.Signals): Promise<void> => {
    const child = p.child;
    if (!child) return;
    killGroup(child, signal);
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exited(child);
    await groupGone(child.pid);
    clearTimeout(timer);
  };

  const dispose = async (): Promise<void> => {
    await Promise.all([stopProcess(nodes.a, 'SIGKILL'), stopProcess(nodes.b, 'SIGKILL')]);
    if (epmd) {
      epmd.kill('SIGKILL');
      await exited(epmd);
    }
    await rm(root, { recursive: true, force: true });
  };

  try {
    await Promise.all([launch(nodes.a), launch(nodes.b)]);
    await ctl('b', ['stop_app']);
    await ctl('b', ['join_cluster', nodes.a.node.name]);
    await ctl('b', ['start_app']);
    await waitForMqtt(nodes.b);
    await waitForCluster();
    await ctl('a', ['set_policy', 'mqtt-sessions-mirrored', MQTT_MIRROR_POLICY.pattern, JSON.stringify(MQTT_MIRROR_POLICY.definition), '--apply-to', 'queues']);
  } catch (err) {
    await dispose();
    throw err;
  }

  return {
    a: nodes.a.node,
    b: nodes.b.node,
    username: 'guest',
    password: 'guest',
    async stop(key) {
      const p = nodes[key];
      if (!p.child) return;
      setRunning(p, false);
      const other: NodeKey = key === 'a' ? 'b' : 'a';
      // The MQTT plugin's client id registry is a Raft cluster of the nodes: with two, a node
      // that stops without leaving it cannot rejoin (no majority is left to let it in).
      if (nodes[other].child) await ctl(other, ['decommission_mqtt_node', p.node.name]);
      await ctl(key, ['shutdown']).catch(() => undefined);
      await stopProcess(p, 'SIGTERM');
    },
    async crash(key) {
      const p = nodes[key];
      setRunning(p, false);
      await stopProcess(p, 'SIGKILL');
    },
    async start(key, timeoutMs) {
      await launch(nodes[key], timeoutMs);
      await waitForCluster(timeoutMs);
    },
    runningNodes,
    ctl,
    dispose,
    log: (key) => nodes[key].output.slice(-60).join('\n'),
  };
}
