/**
 * The mqtt.js client options of a device: MQTT 3.1.1 with a clean session,
 * keepalive and timeouts from the config, credentials, the brokers of a
 * cluster tried in turn (`mqtt.servers`), and the TLS certificate files read
 * from disk (a missing file is a config error naming
 * its key, raised at start rather than at the first connection attempt).
 */
import { readFile } from 'node:fs/promises';
import type { IClientOptions } from 'mqtt';
import { ConfigError } from '../../config/errors.ts';
import { mqttClientId, type MqttConfig } from '../../config/mqtt.ts';
import { wording } from './connection-errors.ts';
import type { OutgoingMessage } from './encoding.ts';

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

async function readTlsFile(key: 'ca' | 'cert' | 'key', path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConfigError(wording.unreadableTlsFile(key, path, err as Error));
  }
}

/** Reads the certificate files named in `mqtt.tls`; throws ConfigError naming the key of an unreadable one. */
export async function readTlsFiles(config: MqttConfig): Promise<TlsFiles> {
  const tls = config.tls;
  const [ca, cert, key] = await Promise.all([readTlsFile('ca', tls?.ca), readTlsFile('cert', tls?.cert), readTlsFile('key', tls?.key)]);
  const files: TlsFiles = {};
  if (ca) files.ca = ca;
  if (cert) files.cert = cert;
  if (key) files.key = key;
  return files;
}

/** One broker of mqtt.js's `servers` list; the port defaults to 1883 (mqtt://) or 8883 (mqtts://). */
export interface BrokerServer {
  host: string;
  port: number;
  protocol: 'mqtt' | 'mqtts';
}

/** A broker URL (validated by the config schema) as a `servers` entry. */
export function brokerServer(url: string): BrokerServer {
  const parsed = new URL(url);
  const protocol = parsed.protocol === 'mqtts:' ? 'mqtts' : 'mqtt';
  // An IPv6 literal keeps its brackets in URL.hostname; sockets want it bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: parsed.port ? Number(parsed.port) : protocol === 'mqtts' ? 8883 : 1883, protocol };
}

/** The brokers tried in turn, `url` first, when `mqtt.servers` is set; undefined for a single broker. */
export function brokerServers(config: MqttConfig): BrokerServer[] | undefined {
  if (!config.servers || config.url === undefined) return undefined;
  return [config.url, ...config.servers].map(brokerServer);
}

/** The options of the first CONNECT; `will` is the first session's last will. */
export function clientOptions(config: MqttConfig, tlsFiles: TlsFiles, will: OutgoingMessage, reconnectPeriod: number): IClientOptions {
  const options: IClientOptions = {
    clientId: mqttClientId(config),
    protocolVersion: 4,
    clean: true,
    keepalive: config.keepaliveSeconds,
    connectTimeout: config.connectTimeoutMs,
    reconnectPeriod,
    reconnectOnConnackError: true,
    queueQoSZero: false,
    // Command subscriptions are made on every connect, before the births.
    resubscribe: false,
    will,
  };
  const servers = brokerServers(config);
  if (servers) options.servers = servers;
  if (config.username !== undefined) options.username = config.username;
  if (config.password !== undefined) options.password = config.password;
  if (config.tls) {
    options.rejectUnauthorized = config.tls.rejectUnauthorized;
    Object.assign(options, tlsFiles);
  }
  return options;
}
