/**
 * The JSON payloads linesight publishes over MQTT. These schemas are the
 * contract with PLCs, SCADA and dashboards: the publisher validates every
 * payload against them before sending, and subscribers can import them to
 * validate what they receive. All timestamps (`ts`) are milliseconds since the
 * Unix epoch.
 */
import { z } from 'zod';
import { formatIssues } from '../../config/errors.ts';
import { productIdSchema } from '../../config/names.ts';
import { validateTopicId } from './topics.ts';

export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

const epochMs = z.number().int().nonnegative();
const finite = z.number().finite();
const count = z.number().int().nonnegative();
const idSchema = (kind: 'device id' | 'camera id') =>
  z.string().superRefine((value, ctx) => {
    try {
      validateTopicId(kind, value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
/** Identifies the frame inside its camera stream (e.g. `cam1-000042`). */
const frameId = z.string().min(1).max(128);
const productId = productIdSchema;

/** `<prefix>/<device>/status`, QoS 1, retained; the broker publishes `state: 'offline'` as the last will. */
export const statusPayloadSchema = z
  .object({
    state: z.enum(['online', 'offline']),
    /** linesight version running on the device. */
    version: z.string().min(1),
    /** Camera ids the device serves. */
    cameras: z.array(idSchema('camera id')),
    /** Product ids enrolled on the device. */
    products: z.array(productId),
  })
  .strict();
export type StatusPayload = z.infer<typeof statusPayloadSchema>;

export const regionSchema = z
  .object({
    x: count,
    y: count,
    w: count,
    h: count,
    /** Pixels in the region. */
    area: count,
    /** Highest anomaly score inside the region. */
    maxScore: finite,
  })
  .strict();
export type Region = z.infer<typeof regionSchema>;

/** `<prefix>/<device>/<camera>/result`, QoS 0 or 1 (mqtt.resultQos): one per scored frame. */
export const resultPayloadSchema = z
  .object({
    /** When the frame arrived from the camera. */
    ts: epochMs,
    frameId,
    /** Frame sequence number within the camera stream. */
    seq: count,
    product: productId,
    modelVersion: z.string().min(1),
    score: finite,
    threshold: finite,
    verdict: z.enum(['ok', 'reject']),
    regions: z.array(regionSchema),
    /** Frame arrival to decision, in milliseconds. */
    latencyMs: z.number().finite().nonnegative(),
  })
  .strict();
export type ResultPayload = z.infer<typeof resultPayloadSchema>;

/**
 * `<prefix>/<device>/<camera>/reject`, QoS 1: the signal a PLC uses to push a
 * bad part off the line. In part modes every part also has its `part`
 * message (runtime/parts/payloads.ts), whose `action` says the same.
 *
 * Delivery is at-least-once. Every reject is written to the device's durable
 * outbox before it is sent and removed only after the broker's PUBACK, so none
 * is lost to a broker outage, a network cut or a crash. The price is that a
 * crash between the PUBACK and the removal sends the same reject again after
 * restart, and a broker may redeliver to a subscriber after its own restart.
 * `seq` is assigned once by the outbox, is unique and strictly increasing per
 * device, and never reused, so a receiver MUST de-duplicate by (device,
 * `seq`): remember the seqs it acted on recently and ignore a repeat. Rejects
 * are sent in `seq` order, one at a time. `seq` starts again at 1 only if the
 * device's outbox directory is deleted.
 */
export const rejectPayloadSchema = z
  .object({
    /** When the frame arrived from the camera (not when the message was sent). */
    ts: epochMs,
    frameId,
    /** Per-device delivery sequence number, starting at 1; de-duplicate by it. */
    seq: z.number().int().positive(),
    /** The part's score (null for a part rejected by the fail-safe: it has no verdict). */
    score: finite.nullable(),
    threshold: finite.nullable(),
    camera: idSchema('camera id'),
    product: productId,
    /**
     * In `trigger` and `presence` modes: the part this reject is for (the
     * PLC's id in trigger mode), as on its `part` message; `frameId` is then
     * the part id too. Absent in `frames` mode.
     */
    partId: z.string().min(1).max(128).optional(),
  })
  .strict();
export type RejectPayload = z.infer<typeof rejectPayloadSchema>;

/** A reject before the outbox has given it its `seq`. */
export const rejectInputSchema = rejectPayloadSchema.omit({ seq: true });
export type RejectInput = z.infer<typeof rejectInputSchema>;

/**
 * `<prefix>/<device>/<camera>/mask`, QoS 0, in its JSON form: a binary mask as
 * run lengths, row-major, alternating background/defect runs and always
 * starting with a background run (0 when the first pixel is a defect). The
 * runs add up to width * height. The mask topic can carry PNG bytes instead;
 * a subscriber tells them apart by the first byte (`{` for JSON).
 */
export const maskPayloadSchema = z
  .object({
    ts: epochMs,
    frameId,
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    counts: z.array(count),
  })
  .strict()
  .superRefine((mask, ctx) => {
    const total = mask.counts.reduce((a, b) => a + b, 0);
    if (total !== mask.width * mask.height) {
      ctx.addIssue({
        code: 'custom',
        path: ['counts'],
        message: `runs add up to ${total} pixels but the mask has ${mask.width}x${mask.height} = ${mask.width * mask.height}`,
      });
    }
  });
export type MaskPayload = z.infer<typeof maskPayloadSchema>;

/** `<prefix>/<device>/<camera>/health`, QoS 0, retained. */
export const healthPayloadSchema = z
  .object({
    /** When these figures were taken (optional). */
    ts: epochMs.optional(),
    /** Frames per second decoded over the last seconds. */
    fps: z.number().finite().nonnegative(),
    decodeErrors: count,
    reconnects: count,
    droppedFrames: count,
    /** Median / 99th-percentile frame-to-decision latency; null before the first frame was scored. */
    p50Ms: z.number().finite().nonnegative().nullable(),
    p99Ms: z.number().finite().nonnegative().nullable(),
  })
  .strict();
export type HealthPayload = z.infer<typeof healthPayloadSchema>;

/**
 * Validates a payload, throwing a PayloadError that names the field, e.g.
 * `reject payload: key "score": Invalid input: expected number, received string`.
 */
export function parsePayload<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new PayloadError(formatIssues(result.error, what));
  return result.data;
}

/**
 * Run-length encodes a binary mask (nonzero = defect) of width x height,
 * row-major. Hand-written: a dozen lines, and the run layout is part of our
 * contract rather than any library's.
 */
export function encodeMaskRle(mask: ArrayLike<number>, width: number, height: number): { width: number; height: number; counts: number[] } {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new PayloadError(`mask size ${width}x${height} is not a positive whole number of pixels`);
  }
  if (mask.length !== width * height) {
    throw new PayloadError(`mask has ${mask.length} pixels but ${width}x${height} needs ${width * height}`);
  }
  const counts: number[] = [];
  let current = 0; // runs start with background
  let run = 0;
  for (let i = 0; i < mask.length; i++) {
    const bit = mask[i] ? 1 : 0;
    if (bit !== current) {
      counts.push(run);
      run = 0;
      current = bit;
    }
    run++;
  }
  counts.push(run);
  return { width, height, counts };
}

/** Expands run lengths back to a mask of 0/1 bytes. */
export function decodeMaskRle(rle: { width: number; height: number; counts: ArrayLike<number> }): Uint8Array {
  const size = rle.width * rle.height;
  const mask = new Uint8Array(size);
  let pos = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const run = rle.counts[i]!;
    if (!Number.isInteger(run) || run < 0) throw new PayloadError(`mask run ${i} is ${run}, not a whole number >= 0`);
    if (pos + run > size) throw new PayloadError(`mask runs exceed ${rle.width}x${rle.height} = ${size} pixels`);
    if (i % 2 === 1) mask.fill(1, pos, pos + run);
    pos += run;
  }
  if (pos !== size) throw new PayloadError(`mask runs add up to ${pos} pixels but the mask has ${size}`);
  return mask;
}

/**
 * `<prefix>/<device>/versions/<product>`, QoS 1, retained: a signed product
 * version another device may fetch (fleet sync, runtime/fleet/).
 */
export const versionAnnouncementSchema = z
  .object({
    product: productId,
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

export type VersionAnnouncement = z.infer<typeof versionAnnouncementSchema>;
