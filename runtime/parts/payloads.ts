/**
 * The MQTT payloads of part-synchronous inspection: the contract with the PLC.
 * All timestamps are milliseconds since the Unix epoch; `seq` numbers a
 * camera's part verdicts from 1 in the order the parts passed, and keeps
 * counting across restarts (it is assigned by the camera's durable part
 * outbox, so a verdict delivered twice carries the same seq).
 *
 *   <prefix>/<device>/<camera>/part            partVerdictPayloadSchema, QoS 1, every part (good ones too)
 *   <prefix>/<device>/<camera>/trigger         triggerPayloadSchema, from the PLC (trigger mode)
 *   <prefix>/<device>/<camera>/counters        partCountersPayloadSchema, QoS 1, retained
 *   <prefix>/<device>/<camera>/counters/reset  countersResetPayloadSchema, from the PLC or SCADA
 *
 * A PLC acts on `action` of each part (`reject`: push it off, `pass`: let it
 * go); `action` already applies the fail-safe to parts without a verdict.
 */
import { z } from 'zod';

const epochMs = z.number().int().nonnegative();
const finite = z.number().finite();
const count = z.number().int().nonnegative();

/** Longest part id, in characters. */
export const MAX_PART_ID_LENGTH = 64;
/** Longest announced delay from trigger to part under the camera, ms. */
export const MAX_TRIGGER_DELAY_MS = 60_000;

/**
 * A part id from the PLC: 1-64 characters among letters, digits, `.`, `_`,
 * `-`, `:` (safe in topics, logs and file names; no wildcards or `/`).
 */
export const partIdSchema = z
  .string()
  .min(1)
  .max(MAX_PART_ID_LENGTH)
  .regex(/^[A-Za-z0-9._:-]+$/, 'use letters, digits, ".", "_", "-" or ":"');

/** A camera id as a topic level: no `/`, `+`, `#`, whitespace or control characters, not starting with `$`. */
const cameraIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^/+#$\s\u0000-\u001f\u007f][^/+#\s\u0000-\u001f\u007f]*$/u, 'a camera id is one MQTT topic level without wildcards or whitespace');

/**
 * `<prefix>/<device>/<camera>/trigger` (also `POST /api/cameras/<id>/trigger`):
 * the PLC announces a part. `delayMs` is the time from this message to the
 * part being under the camera (0 when omitted).
 */
export const triggerPayloadSchema = z
  .object({
    partId: partIdSchema,
    delayMs: z.number().int().min(0).max(MAX_TRIGGER_DELAY_MS).optional(),
  })
  .strict();
export type TriggerPayload = z.infer<typeof triggerPayloadSchema>;

/** Why a part got no verdict, or why its window was cut short (see runtime/parts/tracker.ts). */
export const partReasonSchema = z.enum([
  'no_frames',
  'no_usable_frame',
  'camera_down',
  'scoring_too_slow',
  'product_not_enrolled',
  'scoring_failed',
  'overlapping_trigger',
  'out_of_order_trigger',
]);

/**
 * `<prefix>/<device>/<camera>/part`, QoS 1: one message per part, good parts
 * included. `verdict: no_verdict` means the part could not be judged by its
 * deadline (`reason` says why) and `action` is the configured fail-safe.
 * `frames` is how many fully-in-view frames the score was made of; `latencyMs`
 * runs from the trigger (trigger mode) or from the part leaving the view
 * (presence mode) to `decidedTs`. A receiver de-duplicates by (camera, `seq`).
 */
const partVerdictFields = z
  .object({
    partId: z.string().min(1).max(128),
    seq: z.number().int().positive(),
    camera: cameraIdSchema,
    product: z.string().min(1).max(64),
    modelVersion: z.string().min(1).nullable(),
    verdict: z.enum(['ok', 'reject', 'no_verdict']),
    score: finite.nullable(),
    threshold: finite.nullable(),
    frames: count,
    firstTs: epochMs.nullable(),
    lastTs: epochMs.nullable(),
    decidedTs: epochMs,
    latencyMs: z.number().finite().nonnegative(),
    reason: partReasonSchema.nullable(),
    /** What the PLC should do with the part. */
    action: z.enum(['pass', 'reject']),
  })
  .strict();

/** The rules tying verdict, score, reason and action together. */
function checkVerdict(p: Pick<z.infer<typeof partVerdictFields>, 'verdict' | 'score' | 'threshold' | 'reason' | 'action'>, ctx: z.RefinementCtx): void {
  const judged = p.verdict !== 'no_verdict';
  if (judged !== (p.score !== null && p.threshold !== null)) {
    ctx.addIssue({ code: 'custom', path: ['score'], message: 'score and threshold are set exactly when the part has a verdict' });
  }
  if (p.verdict === 'no_verdict' && p.reason === null) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a part without a verdict says why' });
  if (p.verdict !== 'no_verdict' && p.action !== (p.verdict === 'reject' ? 'reject' : 'pass')) {
    ctx.addIssue({ code: 'custom', path: ['action'], message: `a ${p.verdict} part's action is ${p.verdict === 'reject' ? 'reject' : 'pass'}` });
  }
}

export const partVerdictPayloadSchema = partVerdictFields.superRefine(checkVerdict);
/**
 * A part verdict before the camera's durable part outbox has given it its
 * `seq` (runtime/mqtt/publisher.ts `publishPart`): the seq survives restarts,
 * so a verdict sent again after a crash carries the same seq.
 */
export const partVerdictInputSchema = partVerdictFields.omit({ seq: true }).superRefine(checkVerdict);
export type PartVerdictInput = z.infer<typeof partVerdictInputSchema>;
export type PartVerdictPayload = z.infer<typeof partVerdictPayloadSchema>;

/** `<prefix>/<device>/<camera>/counters`, QoS 1, retained: the counters since the last reset. */
export const partCountersPayloadSchema = z
  .object({
    ts: epochMs,
    parts: count,
    ok: count,
    ng: count,
    noVerdict: count,
    triggerErrors: count,
    /** Processing time (`latencyMs`) of the last 1000 parts; null before the first part. */
    processingMs: z.object({ min: z.number().finite().nonnegative(), mean: z.number().finite().nonnegative(), max: z.number().finite().nonnegative() }).strict().nullable(),
    /** Share (0..1) of the last 1000 parts whose action was `reject`; null before the first part. */
    rejectRate: z.number().min(0).max(1).nullable(),
  })
  .strict();
export type PartCountersPayload = z.infer<typeof partCountersPayloadSchema>;

/** `<prefix>/<device>/<camera>/counters/reset` (also `POST /api/cameras/<id>/counters/reset`): zeroes the counters. */
export const countersResetPayloadSchema = z
  .object({
    /** Who asked, for the log (optional). */
    by: z.string().max(64).optional(),
  })
  .strict();
export type CountersResetPayload = z.infer<typeof countersResetPayloadSchema>;
