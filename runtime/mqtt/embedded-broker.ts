/**
 * The embedded MQTT broker (aedes over plain TCP), started when the device
 * config names no broker so a fresh machine runs end to end. It keeps
 * messages in memory only: for a line with a PLC, run a real broker
 * (mosquitto) and set mqtt.url.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { createLogger, type Logger } from '../../config/logger.ts';

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

export async function startEmbeddedBroker(options: { host?: string; port?: number; logger?: Logger } = {}): Promise<EmbeddedBroker> {
  const log = options.logger ?? createLogger('embedded-broker');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 1883;
  // Client ids such as `linesight-<deviceId>` are longer than MQTT 3.1's 23 characters.
  const broker = await Aedes.createBroker({ maxClientsIdLength: 128 });
  broker.on('client', (client) => forwardEveryMessage(client));
  broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'client error'));
  // Small packets (a reject, its PUBACK) go out at once: without TCP_NODELAY, Nagle's algorithm
  // and delayed ACKs hold them for tens of milliseconds.
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
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
  log.info({ host, port: actualPort }, `embedded MQTT broker listening on ${host}:${actualPort}`);
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${urlHost}:${actualPort}`,
    port: actualPort,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // aedes.close() ends every client connection, which lets server.close() finish.
          broker.close();
        });
      })();
      return closing;
    },
  };
}
