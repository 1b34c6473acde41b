/**
 * The embedded MQTT broker (aedes over plain TCP), started when the device
 * config names no broker so a fresh machine runs end to end.
 *
 * With a data directory it keeps what it acknowledges: sessions,
 * subscriptions, QoS 1 messages for offline subscribers and retained
 * messages are on disk (broker-persistence.ts), so a PLC with a persistent
 * session gets the rejects decided while it was away, across restarts.
 * aedes writes a PUBACK before it stores the message for offline
 * subscribers; with a store, everything the broker sends waits until the
 * publishes in flight are stored, so no acknowledgement leaves before the
 * message is on disk (a SIGKILL right after a PUBACK lost 4 of 10 rejects
 * without this).
 * Credentials, topic rules and size limits (broker-policy.ts) keep other
 * clients from reading without an account, faking rejects or status,
 * taking over the runtime's client id, or filling memory; a bind address
 * reachable from the network needs credentials.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import { createLogger, type Logger } from '../../config/logger.ts';
import { openBrokerStore, type BrokerStore } from './broker-persistence.ts';
import { isLoopbackHost } from '../../config/hosts.ts';
import { BROKER_POLICY_DEFAULTS, decideLogin, decidePublish, PacketSizeGuard, RetainedBudget, type BrokerLimits, type BrokerPolicyOptions } from './broker-policy.ts';

export interface EmbeddedBrokerOptions extends BrokerPolicyOptions {
  host?: string;
  port?: number;
  logger?: Logger;
  /** Directory of the broker's store (sessions, QoS 1 messages, retained messages); in memory only when not given. */
  dataDir?: string;
  /** Wait for fsync on every store write (default true: an acknowledged reject survives a power cut). */
  syncWrites?: boolean;
}

export interface EmbeddedBroker {
  /** mqtt://host:port clients connect to (the real port when 0 was asked for). */
  url: string;
  port: number;
  /** Stops accepting clients, disconnects the connected ones and closes the broker. */
  close(): Promise<void>;
}

export class EmbeddedBrokerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedBrokerError';
  }
}

/**
 * aedes 1.x drops a message for a subscriber when a later message overtook
 * it inside the broker: its per-client de-duplication keeps only messages
 * numbered above the last one forwarded, and a retained publish (stored
 * asynchronously first) is routinely overtaken by the next publish
 * (moscajs/aedes issues #955 and #994). Health and status updates were lost
 * that way. The de-duplication only exists for overlapping subscriptions of
 * one client; linesight's clients do not overlap, and MQTT 3.1.1 allows
 * duplicates there anyway, so every message is forwarded instead.
 */
function forwardEveryMessage(client: object): void {
  const neverSeen = new Proxy({} as Record<string, number>, { get: () => 0, set: () => true });
  (client as { duplicates?: Record<string, number> }).duplicates = neverSeen;
}

/** Refuses settings that would expose the broker or make its credentials half-set. */
export function checkBrokerOptions(options: EmbeddedBrokerOptions): void {
  const host = options.host ?? '127.0.0.1';
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new EmbeddedBrokerError(`key "mqtt.embeddedBroker.${options.username === undefined ? 'username' : 'password'}": set username and password together`);
  }
  if (!isLoopbackHost(host) && options.username === undefined) {
    throw new EmbeddedBrokerError(
      `key "mqtt.embeddedBroker.username": the embedded MQTT broker is reachable from the network at ${host}; set mqtt.embeddedBroker.username and password (or host 127.0.0.1)`,
    );
  }
}

/** Longest wait on close for queued output to reach the clients. */
const CLOSE_FLUSH_MS = 2000;

/** A client that lets this much of the broker's output queue up is disconnected. */
const MAX_QUEUED_OUTPUT_BYTES = 4 * 1024 * 1024;

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The socket as aedes reads and writes it.
 *
 * Input: every packet's length is checked from its fixed header first; a
 * client announcing a packet over the limit is disconnected before its body
 * is buffered.
 *
 * Output (with `outputBarrier`): each write is accepted at once but reaches
 * the socket only after the barrier resolves, in order. aedes starts storing
 * a QoS 1 message right after writing its PUBACK, so the PUBACK waits one
 * turn of the event loop and then for the stores in flight. `written`
 * resolves once everything accepted so far has reached the socket (the
 * broker's close waits for it, so a last message — the runtime's retained
 * `offline` status — is not cut off).
 */
function guardedConnection(socket: Socket, guard: PacketSizeGuard, refuse: (bytes: number) => void, outputBarrier?: () => Promise<void>): { connection: Duplex; written: () => Promise<void> } {
  let output = Promise.resolve();
  let queuedBytes = 0;
  const connection = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      if (!outputBarrier) {
        socket.write(chunk, done);
        return;
      }
      queuedBytes += chunk.length;
      if (queuedBytes > MAX_QUEUED_OUTPUT_BYTES) {
        done(new Error(`the client reads too slowly (${queuedBytes} bytes queued)`));
        return;
      }
      output = output.then(async () => {
        await nextMacrotask();
        await outputBarrier();
        queuedBytes -= chunk.length;
        if (!socket.destroyed) socket.write(chunk);
      });
      done();
    },
    final(done) {
      void output.then(() => socket.end(done));
    },
    destroy(err, done) {
      socket.destroy();
      done(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    const oversized = guard.push(chunk);
    if (oversized !== undefined) {
      refuse(oversized);
      connection.destroy();
      return;
    }
    if (!connection.push(chunk)) socket.pause();
  });
  socket.on('end', () => connection.push(null));
  socket.on('close', () => connection.destroy());
  socket.on('error', () => connection.destroy());
  return { connection, written: () => output };
}

/**
 * Tracks `broker.publish` calls (internal ones included) until they are done:
 * stored for offline subscribers and handed to online ones. Returns a
 * barrier that waits for the publishes in flight when it is called.
 */
function trackPublishes(broker: object): () => Promise<void> {
  const target = broker as { publish: (...args: unknown[]) => void };
  const publish = target.publish.bind(target);
  const inFlight = new Set<Promise<void>>();
  target.publish = (...args: unknown[]) => {
    const last = args.at(-1);
    const done = typeof last === 'function' ? (last as (...results: unknown[]) => void) : undefined;
    let finish = () => {};
    const settled = new Promise<void>((resolve) => (finish = resolve));
    inFlight.add(settled);
    const finished = (...results: unknown[]) => {
      inFlight.delete(settled);
      finish();
      done?.(...results);
    };
    publish(...(done ? args.slice(0, -1) : args), finished);
  };
  return async () => {
    if (inFlight.size > 0) await Promise.all([...inFlight]);
  };
}

/**
 * The broker's hooks for logins and publishes, applying broker-policy.ts and
 * remembering which connection is the runtime's own client.
 */
class BrokerAccess {
  private readonly runtimeClients = new WeakSet<Client>();
  /** The runtime's client while it is connected (its id cannot be taken over). */
  private runtimeClient: Client | undefined;
  private readonly guards = new WeakMap<Client, PacketSizeGuard>();

  constructor(
    private readonly options: EmbeddedBrokerOptions,
    private readonly limits: BrokerLimits,
    private readonly retained: RetainedBudget,
    private readonly log: Logger,
  ) {}

  /** The size check for a new connection. The runtime's client is told apart by its id; without one every client gets the runtime's allowance. */
  packetGuard(): PacketSizeGuard {
    return new PacketSizeGuard(this.options.runtimeClientId !== undefined ? this.limits.maxMessageBytes : this.limits.runtimeMaxMessageBytes);
  }

  guardFor(client: Client, guard: PacketSizeGuard): void {
    this.guards.set(client, guard);
  }

  disconnected(client: Client): void {
    if (client === this.runtimeClient) this.runtimeClient = undefined;
  }

  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (error: (Error & { returnCode: number }) | null, success: boolean) => void): void {
    const runtimeConnected = this.runtimeClient !== undefined && this.runtimeClient !== client && !this.runtimeClient.closed;
    const decision = decideLogin(this.options, { clientId: client.id, username, password }, runtimeConnected);
    if (!decision.ok) {
      this.log.warn({ client: client.id, username }, `embedded MQTT broker refused client ${client.id}: ${decision.reason}`);
      done(Object.assign(new Error(decision.reason), { returnCode: decision.returnCode }), false);
      return;
    }
    if (decision.runtime) {
      this.runtimeClients.add(client);
      this.runtimeClient = client;
      const guard = this.guards.get(client);
      if (guard) guard.limit = this.limits.runtimeMaxMessageBytes;
    }
    done(null, true);
  }

  authorizePublish(client: Client | null, packet: { topic: string; retain: boolean; payload: Buffer | string }, done: (error?: Error | null) => void): void {
    const { runtimeClientId } = this.options;
    // Wills of sessions from before a restart come without a client.
    const fromRuntime = client ? this.runtimeClients.has(client) : runtimeClientId !== undefined && (packet as { clientId?: string }).clientId === runtimeClientId;
    const decision = packet.topic.startsWith('$SYS') ? { ok: false as const, reason: '$SYS topics are reserved for the broker' } : decidePublish(this.options, packet.topic, fromRuntime);
    const refusal = !decision.ok ? decision.reason : packet.retain ? refusedRetained(this.retained, packet.topic, packet.payload) : undefined;
    if (refusal !== undefined) {
      this.log.warn({ client: client?.id, topic: packet.topic }, `embedded MQTT broker refused a publish from ${client?.id ?? 'a will'} to ${packet.topic}: ${refusal}`);
      done(new Error(refusal));
      return;
    }
    done(null);
  }
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const log = options.logger ?? createLogger('embedded-broker');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 1883;
  checkBrokerOptions(options);
  const limits = { ...BROKER_POLICY_DEFAULTS, ...definedOnly(options) };
  const store: BrokerStore | undefined = options.dataDir ? await openBrokerStore(options.dataDir, { sync: options.syncWrites }) : undefined;
  const retained = new RetainedBudget(limits.maxRetainedMessages, limits.maxRetainedBytes);
  if (store) for await (const packet of store.retained()) retained.admit(packet.topic, packet.payload.length);
  const access = new BrokerAccess(options, limits, retained, log);

  // Client ids such as `linesight-<deviceId>` are longer than MQTT 3.1's 23 characters.
  const broker = await Aedes.createBroker({
    maxClientsIdLength: 128,
    persistence: store?.persistence,
    authenticate: (client, username, password, done) => access.authenticate(client, username, password, done),
    authorizePublish: (client, packet, done) => access.authorizePublish(client, packet, done),
  });
  const storedBarrier = store ? trackPublishes(broker) : undefined;
  broker.on('client', (client) => forwardEveryMessage(client));
  broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'client error'));
  broker.on('clientDisconnect', (client) => access.disconnected(client));
  // Small packets (a reject, its PUBACK) go out at once: without TCP_NODELAY, Nagle's algorithm
  // and delayed ACKs hold them for tens of milliseconds.
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    const guard = access.packetGuard();
    const { connection, written } = guardedConnection(socket, guard, (bytes) =>
      log.warn({ remote: socket.remoteAddress, bytes }, `embedded MQTT broker refused a ${bytes}-byte packet from ${clientOf(socket)} (limit ${guard.limit} bytes)`),
      storedBarrier,
    );
    outputs.add(written);
    socket.once('close', () => outputs.delete(written));
    const client = broker.handle(connection) as Client;
    access.guardFor(client, guard);
    clients.set(socket, client);
  });
  const clients = new WeakMap<Socket, Client>();
  /** Per connection: resolves when its queued output has reached the socket. */
  const outputs = new Set<() => Promise<void>>();
  const clientOf = (socket: Socket): string => clients.get(socket)?.id ?? socket.remoteAddress ?? 'a client';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await store?.persistence.destroy();
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? 'the port is already in use (another MQTT broker running? set mqtt.url to use it, or mqtt.embeddedBroker.port to another port)'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges; choose another mqtt.embeddedBroker.port)'
          : code === 'EADDRNOTAVAIL'
            ? 'this machine has no such address (check mqtt.embeddedBroker.host)'
            : (err as Error).message;
    throw new EmbeddedBrokerError(`embedded MQTT broker cannot listen on ${host}:${port}: ${why}`);
  }
  server.on('error', (err) => log.error({ err }, 'embedded MQTT broker server error'));
  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  log.info(
    { host, port: actualPort, store: options.dataDir ?? null, credentials: options.username !== undefined },
    `embedded MQTT broker listening on ${host}:${actualPort}${options.dataDir ? `, sessions and QoS 1 messages kept in ${options.dataDir}` : ', in memory only'}${options.username !== undefined ? ', login required' : ''}`,
  );
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${urlHost}:${actualPort}`,
    port: actualPort,
    close() {
      closing ??= (async () => {
        // Messages already accepted (stored, waiting for their turn) reach their clients first, within a bound.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all([...outputs].map((written) => written())), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_FLUSH_MS)))]);
        clearTimeout(timer);
        // aedes.close() ends every client connection, which lets server.close() finish.
        await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), new Promise<void>((resolve) => broker.close(() => resolve()))]);
        // The store closes last (aedes leaves it open), so a broker started next can open it.
        await store?.persistence.destroy().catch((err: Error) => log.warn({ err }, `closing the embedded MQTT broker's store: ${err.message}`));
      })();
      return closing;
    },
  };
}

/** The options that were given (undefined ones do not override the defaults). */
function definedOnly(options: BrokerPolicyOptions): Partial<BrokerLimits> {
  const given: Partial<BrokerLimits> = {};
  for (const key of Object.keys(BROKER_POLICY_DEFAULTS) as (keyof BrokerLimits)[]) {
    const value = options[key];
    if (value !== undefined) given[key] = value;
  }
  return given;
}

/** Why a retained publish is refused, or undefined when it fits the budget (and is counted). */
function refusedRetained(budget: RetainedBudget, topic: string, payload: Buffer | string): string | undefined {
  const decision = budget.admit(topic, Buffer.byteLength(payload));
  return decision.ok ? undefined : decision.reason;
}
