/**
 * Settings of part-synchronous inspection (`parts`, per device with per-camera
 * overrides): how a camera's frames become parts, how a part's frames become
 * one verdict, and what happens to a part that cannot be judged in time.
 * The logic lives in runtime/parts/; the defaults make the demo's conveyor
 * video (one part a second at 15 fps, parts sliding over an empty belt) work
 * in `presence` mode without further settings.
 */
import { z } from 'zod';

/** A part's window after its trigger: N frames, or a span of time, starting at trigger + delay. */
export const partWindowSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('frames'), frames: z.number().int().min(1).max(1000) }).strict(),
  z.object({ kind: z.literal('time'), windowMs: z.number().int().min(1).max(60_000) }).strict(),
]);
export type PartWindowSettings = z.output<typeof partWindowSchema>;

/** How a part's per-frame scores become its score (see runtime/parts/aggregate.ts). */
export const aggregationSchema = z
  .object({
    rule: z.enum(['max', 'debounced-max', 'median']).default('debounced-max'),
    /** For `debounced-max`: the part's score is the one at least this many frames reached. */
    debounceFrames: z.number().int().min(1).max(100).default(2),
  })
  .strict();
export type AggregationSettings = z.output<typeof aggregationSchema>;

/** Region of interest as fractions of the frame (0..1), so it holds for any resolution. */
export const roiSchema = z
  .object({
    x: z.number().min(0).max(1).default(0),
    y: z.number().min(0).max(1).default(0),
    w: z.number().gt(0).max(1).default(1),
    h: z.number().gt(0).max(1).default(1),
  })
  .strict()
  .refine((r) => r.x + r.w <= 1 + 1e-9 && r.y + r.h <= 1 + 1e-9, 'the region of interest must lie inside the frame (x + w <= 1, y + h <= 1)');
export type RoiSettings = z.output<typeof roiSchema>;

/** Part detection from the difference to an empty-belt reference (see runtime/parts/presence.ts). */
export const presenceSchema = z
  .object({
    /** Side of the grey thumbnail the detection works on. */
    thumbnailSize: z.number().int().min(8).max(128).default(32),
    /** Frames at start-up whose per-cell median is the empty-belt reference. */
    referenceFrames: z.number().int().min(1).max(300).default(10),
    /** Weight of a new empty-belt frame in the running-average reference (0 = never refresh). */
    refreshRate: z.number().min(0).max(1).default(0.05),
    /** Grey-level difference (0..255) above which a thumbnail cell counts as foreground. */
    cellThreshold: z.number().min(1).max(255).default(25),
    /** Share of ROI cells in the foreground above which a part enters. */
    enterLevel: z.number().gt(0).max(1).default(0.04),
    /** Share of ROI cells in the foreground below which the part has left. */
    leaveLevel: z.number().min(0).max(1).default(0.02),
    /** A frame is fully in view only if its occupancy is at least this share of the passage's maximum. */
    inViewBand: z.number().gt(0).max(1).default(0.9),
    roi: roiSchema.default(() => roiSchema.parse({})),
  })
  .strict()
  .refine((p) => p.leaveLevel < p.enterLevel, 'presence.leaveLevel must be below presence.enterLevel (hysteresis)');
export type PresenceSettings = z.output<typeof presenceSchema>;

export const partsSettingsSchema = z
  .object({
    /**
     * `trigger`: the PLC announces each part; `presence`: the runtime finds parts
     * in the video; `frames`: every frame is judged (continuous material).
     */
    mode: z.enum(['trigger', 'presence', 'frames']).default('presence'),
    /** Trigger mode: the frames that belong to a part. */
    window: partWindowSchema.default({ kind: 'time', windowMs: 500 }),
    /**
     * Trigger mode: judge a part only on the frames where it is fully in view
     * (the empty-belt reference is learned from the first frames, so the belt
     * must be empty at start-up). `false`: every frame of the window counts,
     * for lines where the camera only ever sees whole parts and no belt.
     */
    inViewCheck: z.boolean().default(true),
    /** Longest delay a trigger may announce, ms. */
    maxDelayMs: z.number().int().min(0).max(60_000).default(10_000),
    /** Time from the trigger (trigger mode) or from the part leaving the view (presence mode) to its verdict at the latest. */
    deadlineMs: z.number().int().min(1).max(120_000).default(1500),
    /** What the PLC should do with a part that got no verdict. */
    failSafe: z.enum(['reject', 'pass']).default('reject'),
    aggregation: aggregationSchema.default(() => aggregationSchema.parse({})),
    presence: presenceSchema.default(() => presenceSchema.parse({})),
    /** Frames mode: consecutive over-threshold frames before a reject. */
    debounceFrames: z.number().int().min(1).max(100).default(2),
  })
  .strict();
export type PartsSettings = z.output<typeof partsSettingsSchema>;
