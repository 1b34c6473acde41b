/**
 * The retained MQTT message by which a device announces a signed product
 * version to the rest of the plant, `<prefix>/<device>/versions/<product>`,
 * and where other devices fetch its bundle. One retained message per
 * product and device: a device that connects later still learns the newest
 * version. Pure: topic names, the payload schema and its checks.
 */
import { z } from 'zod';
import { productIdSchema, validateTopicId, validateTopicPrefix } from '../../config/names.ts';

export const versionAnnouncementSchema = z
  .object({
    product: productIdSchema,
    version: z.string().regex(/^v\d+$/),
    /** Key id of the signature (product/signing.ts); empty for an unsigned version. */
    keyId: z.string().regex(/^([0-9a-f]{16})?$/),
    /** Where the bundle is fetched (http or https). */
    url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'an http:// or https:// URL'),
    /** sha256 of the bundle as served. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    publishedAt: z.string(),
  })
  .strict();

export type VersionAnnouncement = z.output<typeof versionAnnouncementSchema>;

export function versionTopic(prefix: string, deviceId: string, product: string): string {
  return `${validateTopicPrefix(prefix)}/${validateTopicId('device id', deviceId)}/versions/${productIdSchema.parse(product)}`;
}

/** Every device's announcements: `<prefix>/+/versions/+`. */
export function allVersionsFilter(prefix: string): string {
  return `${validateTopicPrefix(prefix)}/+/versions/+`;
}

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
