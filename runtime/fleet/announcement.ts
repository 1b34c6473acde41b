/**
 * The retained MQTT message by which a device announces a signed product
 * version to the rest of the plant, `<prefix>/<device>/versions/<product>`
 * (topic in runtime/mqtt/topics.ts, schema in runtime/mqtt/payloads.ts),
 * and where other devices fetch its bundle. One retained message per
 * product and device: a device that connects later still learns the newest
 * version. Pure: reading topics and payloads back.
 */
import { versionAnnouncementSchema, type VersionAnnouncement } from '../mqtt/payloads.ts';

/** The announcing device and product of a topic under `prefix`, or undefined for any other topic (pure). */
export function parseVersionTopic(prefix: string, topic: string): { device: string; product: string } | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const levels = topic.slice(prefix.length + 1).split('/');
  if (levels.length !== 3 || levels[1] !== 'versions') return undefined;
  return { device: levels[0]!, product: levels[2]! };
}

/**
 * The announcement in a payload, or why it is not one (pure). A camera named
 * `versions` makes its result topics match the filter too; those payloads
 * fail the schema and are ignored.
 */
export function parseAnnouncement(topicProduct: string, payload: Uint8Array): { announcement: VersionAnnouncement } | { problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  const parsed = versionAnnouncementSchema.safeParse(raw);
  if (!parsed.success) return { problem: `not a version announcement (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})` };
  if (parsed.data.product !== topicProduct) return { problem: `announces ${parsed.data.product} on the topic of ${topicProduct}` };
  return { announcement: parsed.data };
}

/** The bundle path of a version on a device's web server. */
export function bundlePath(product: string, version: string): string {
  return `/api/products/${encodeURIComponent(product)}/versions/${encodeURIComponent(version)}/bundle`;
}
