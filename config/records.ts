/**
 * Settings of the kept evidence (`records` in the device config): which
 * parts are kept with their image, anomaly map and mask, how much disk they
 * may use and for how long, and the shift boundaries production statistics
 * are counted in. Every reject and every part without a verdict is kept; a
 * sample of passed parts shows what the line looks like when it runs well.
 */
import { z } from 'zod';

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use a 24-hour time like 06:00');

export const recordsSettingsSchema = z
  .object({
    /** Keep records at all. */
    enabled: z.boolean().default(true),
    /** Share of passed parts kept (0 = none, 1 = every one). */
    samplePassed: z.number().min(0).max(1).default(0.02),
    /** Disk the records may use (images and index), in bytes; the oldest go first. */
    maxBytes: z.number().int().min(1_000_000).default(2_000_000_000),
    /** Records older than this many days are deleted. */
    maxDays: z.number().min(0.001).max(3650).default(30),
    /** No record is written while the data disk has less free space than this, in bytes. */
    minFreeBytes: z.number().int().min(0).default(500_000_000),
    /** Records waiting to be written; when full, new ones are dropped (and counted) rather than delaying anything. */
    queueLength: z.number().int().min(1).max(10_000).default(64),
    /** Local start times of the shifts, in order (statistics per shift). */
    shifts: z.array(clock).min(1).max(12).default(['06:00', '14:00', '22:00']),
    /** Drift of the good parts' median score, in units of the threshold, above which health warns. */
    driftWarn: z.number().min(0).max(10).default(0.25),
    /** Parts whose scores make the reference when the enrollment's calibration scores are not known. */
    driftReferenceParts: z.number().int().min(10).max(100_000).default(200),
  })
  .strict()
  .superRefine((s, ctx) => {
    const minutes = s.shifts.map(clockMinutes);
    if (new Set(minutes).size !== minutes.length) ctx.addIssue({ code: 'custom', path: ['shifts'], message: 'every shift needs its own start time' });
  });

export type RecordsSettings = z.output<typeof recordsSettingsSchema>;

/** Minutes after midnight of a `HH:MM` time. */
export function clockMinutes(time: string): number {
  const [h, m] = time.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** The records settings of a device config, defaults where it has none. */
export function recordsSettingsOf(config: object): RecordsSettings {
  return recordsSettingsSchema.parse('records' in config ? config.records : {});
}
