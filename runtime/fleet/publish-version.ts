/**
 * Announces a signed version to the plant: one retained QoS 1 message on
 * `<prefix>/<device>/versions/<product>` naming where its bundle is fetched
 * and the bundle's sha256.
 */
import mqtt from 'mqtt';
import type { MqttConfig } from '../../config/mqtt.ts';
import { versionAnnouncementSchema, type VersionAnnouncement } from '../mqtt/payloads.ts';
import { versionTopic } from '../mqtt/topics.ts';
import { deviceBrokerUrl, fleetClientOptions } from './broker-client.ts';

export async function announceVersion(config: MqttConfig, announcement: VersionAnnouncement, brokerUrl = deviceBrokerUrl(config)): Promise<{ topic: string; brokerUrl: string }> {
  const payload = JSON.stringify(versionAnnouncementSchema.parse(announcement));
  const topic = versionTopic(config.prefix, config.deviceId, announcement.product);
  const client = await mqtt.connectAsync(brokerUrl, await fleetClientOptions(config, 'publish'));
  try {
    await client.publishAsync(topic, payload, { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
  return { topic, brokerUrl };
}
