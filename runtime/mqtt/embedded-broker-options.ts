/**
 * The embedded broker's options from the device config: its account and
 * limits, its store under the data dir, and which topics only the runtime's
 * own client may publish to (everything under the device's prefix, and the
 * Sparkplug node's topics) versus where a PLC may publish (triggers and
 * commands).
 */
import { join } from 'node:path';
import { mqttClientId, sparkplugIds, type MqttConfig } from '../../config/mqtt.ts';
import type { EmbeddedBrokerOptions } from './embedded-broker.ts';

/** Topic filters a PLC publishes to inside the device's topics: part triggers and commands. */
export function defaultClientPublishTopics(config: MqttConfig): string[] {
  const device = `${config.prefix}/${config.deviceId}`;
  const topics = [`${device}/+/trigger`, `${device}/+/counters/reset`];
  if (config.encoding === 'sparkplug') {
    const { groupId, edgeNodeId } = sparkplugIds(config);
    topics.push(`spBv1.0/${groupId}/NCMD/${edgeNodeId}`, `spBv1.0/${groupId}/DCMD/${edgeNodeId}/+`);
  }
  return topics;
}

export function embeddedBrokerOptions(config: MqttConfig, dataDir: string): Omit<EmbeddedBrokerOptions, 'logger'> {
  const b = config.embeddedBroker;
  const protectedTopics = [`${config.prefix}/${config.deviceId}/#`];
  if (config.encoding === 'sparkplug') {
    const { groupId, edgeNodeId } = sparkplugIds(config);
    protectedTopics.push(`spBv1.0/${groupId}/+/${edgeNodeId}`, `spBv1.0/${groupId}/+/${edgeNodeId}/#`);
  }
  return {
    host: b.host,
    port: b.port,
    dataDir: b.persist ? join(dataDir, 'embedded-broker', config.deviceId) : undefined,
    syncWrites: b.syncWrites,
    username: b.username,
    password: b.password,
    runtimeClientId: mqttClientId(config),
    protectedTopics,
    clientPublishTopics: b.clientPublishTopics ?? defaultClientPublishTopics(config),
    maxMessageBytes: b.maxMessageBytes,
    maxRetainedMessages: b.maxRetainedMessages,
    maxRetainedBytes: b.maxRetainedBytes,
  };
}

/** The runtime's client settings: with an account on the embedded broker, the client logs in with it. */
export function runtimeClientConfig(config: MqttConfig): MqttConfig {
  const b = config.embeddedBroker;
  if (config.url || b.username === undefined) return config;
  return { ...config, username: b.username, password: b.password };
}
