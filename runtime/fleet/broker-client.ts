/**
 * The MQTT connection of fleet sync and of `linesight publish`: the device's
 * broker, account and TLS files, under a client id of its own (`-fleet`,
 * `-publish`) so it never takes over the runtime's session.
 */
import type { IClientOptions } from 'mqtt';
import { mqttClientId, type MqttConfig } from '../../config/mqtt.ts';
import { readTlsFiles } from '../mqtt/client-options.ts';

/** The broker the device uses: `mqtt.url`, else the embedded broker's address. */
export function deviceBrokerUrl(config: MqttConfig): string {
  if (config.url) return config.url;
  const host = config.embeddedBroker.host === '0.0.0.0' ? '127.0.0.1' : config.embeddedBroker.host;
  return `mqtt://${host}:${config.embeddedBroker.port}`;
}

export async function fleetClientOptions(config: MqttConfig, role: 'fleet' | 'publish'): Promise<IClientOptions> {
  const options: IClientOptions = {
    clientId: `${mqttClientId(config)}-${role}`.slice(0, 128),
    protocolVersion: 4,
    clean: true,
    keepalive: config.keepaliveSeconds,
    connectTimeout: config.connectTimeoutMs,
    reconnectPeriod: role === 'fleet' ? config.reconnect.initialMs : 0,
  };
  const username = config.username ?? (config.url ? undefined : config.embeddedBroker.username);
  const password = config.password ?? (config.url ? undefined : config.embeddedBroker.password);
  if (username !== undefined) options.username = username;
  if (password !== undefined) options.password = password;
  if (config.tls) {
    options.rejectUnauthorized = config.tls.rejectUnauthorized;
    Object.assign(options, await readTlsFiles(config));
  }
  return options;
}
