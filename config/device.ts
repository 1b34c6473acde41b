/**
 * The device config file (`linesight.yaml` / `.json`): the data folder, the
 * cameras and the product each inspects, when frames become a reject signal,
 * and one section per concern (enroll, inference, mqtt, http, refine, parts,
 * opcua, records, fleet).
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { cameraSettingsSchema } from './camera-settings.ts';
import { enrollSettingsSchema, inferenceSettingsSchema } from './enroll.ts';
import { fleetConfigSchema } from './fleet.ts';
import { httpSettingsSchema } from './http.ts';
import { mqttConfigSchema } from './mqtt.ts';
import { opcuaSettingsSchema } from './opcua.ts';
import { productIdSchema } from './names.ts';
import { partsSettingsSchema, type PartsSettings } from './parts.ts';
import { recordsSettingsSchema } from './records.ts';
import { refineSettingsSchema } from './refine.ts';

/**
 * When a camera's frames become one reject signal in `parts.mode: frames`
 * (see runtime/parts/frame-decision.ts). Part modes judge parts instead.
 */
export const decisionSettingsSchema = z
  .object({
    /** Frames mode: consecutive frames over the threshold before a reject (filters single-frame glitches). */
    debounceFrames: z.number().int().min(1).max(1000).default(2),
    /**
     * No longer applied (accepted so older config files still load): a
     * time-based cooldown hid a second defect right behind a false reject. A
     * new streak over the threshold after a good frame is always a new reject.
     */
    cooldownMs: z.number().int().min(0).max(3_600_000).default(1000),
  })
  .strict();

export type DecisionSettingsConfig = z.output<typeof decisionSettingsSchema>;

/** One camera of the device and the product it inspects. */
export const stationSchema = cameraSettingsSchema.extend({
  /** Product id scored on this camera (enrolled with `linesight enroll`). */
  product: productIdSchema,
  /** Overrides the device's `decision` settings for this camera. */
  decision: decisionSettingsSchema.partial().strict().optional(),
  /** Publish the defect mask (RLE JSON on `<camera>/mask`) of every frame over the threshold. */
  publishMasks: z.boolean().default(true),
  /**
   * Overrides the device's `parts` settings for this camera: any of its keys,
   * merged over the device value (nested objects key by key). Checked with the
   * whole config; see cameraPartsSettings.
   */
  parts: z.record(z.string(), z.unknown()).optional(),
});

export type StationConfig = z.output<typeof stationSchema>;

/** A device id valid as an MQTT topic level, from the host name. */
export function defaultDeviceId(host = hostname()): string {
  const id = host.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return id || 'linesight';
}

/** The device config file (`linesight.yaml` / `.json`). */
export const deviceConfigSchema = z
  .object({
    /** Where products and the reject outbox live (systemd installs use /var/lib/linesight). */
    dataDir: z.string().min(1).default('.linesight'),
    enroll: enrollSettingsSchema.default(() => enrollSettingsSchema.parse({})),
    inference: inferenceSettingsSchema.default(() => inferenceSettingsSchema.parse({})),
    /** Broker and topics; without `url` an embedded broker runs on 127.0.0.1:1883. */
    mqtt: z.preprocess(
      (v) => (v === undefined ? { deviceId: defaultDeviceId() } : v !== null && typeof v === 'object' && !('deviceId' in v) ? { deviceId: defaultDeviceId(), ...v } : v),
      mqttConfigSchema,
    ),
    http: httpSettingsSchema.default(() => httpSettingsSchema.parse({})),
    /** Mask refinement of flagged frames. */
    refine: refineSettingsSchema.default(() => refineSettingsSchema.parse({})),
    /** Default decision settings of every camera. */
    decision: decisionSettingsSchema.default(() => decisionSettingsSchema.parse({})),
    /**
     * Part-synchronous inspection of every camera (config/parts.ts). Without a
     * `parts` section a camera judges frames (`mode: frames`), as before parts
     * existed; `presence` and `trigger` judge parts.
     */
    parts: partsSettingsSchema.default(() => partsSettingsSchema.parse({ mode: 'frames' })),
    /** The OPC UA machine-vision server (off by default). */
    opcua: opcuaSettingsSchema.default(() => opcuaSettingsSchema.parse({})),
    /** Evidence kept for review (rejects, no-verdict parts, a sample of passed parts) and production statistics. */
    records: recordsSettingsSchema.default(() => recordsSettingsSchema.parse({})),
    /** Signed product versions from other devices of the plant (off by default). */
    fleet: fleetConfigSchema.default(() => fleetConfigSchema.parse({})),
    /** How often each camera's health is published over MQTT, in ms. */
    healthIntervalMs: z.number().int().min(500).max(3_600_000).default(5000),
    /** How often the active version of each product is checked for a hot swap, in ms. */
    productPollMs: z.number().int().min(200).max(3_600_000).default(2000),
    cameras: z.array(stationSchema).default([]),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.cameras.forEach((camera, i) => {
      const first = seen.get(camera.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'id'], message: `camera id "${camera.id}" is already used by cameras[${first}]; every camera needs its own id` });
      else seen.set(camera.id, i);
      if (camera.parts) {
        const merged = partsSettingsSchema.safeParse(mergeSettings(config.parts, camera.parts));
        for (const issue of merged.success ? [] : merged.error.issues) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'parts', ...issue.path.map(String)], message: issue.message });
      }
    });
  });

export type DeviceConfig = z.output<typeof deviceConfigSchema>;

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `override` over `base`, nested objects merged key by key; a part window
 * (`window`) is replaced whole, since its keys depend on its `kind`.
 */
export function mergeSettings(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = key !== 'window' && isPlainObject(current) && isPlainObject(value) ? mergeSettings(current, value) : value;
  }
  return out;
}

/** The `parts` settings of one camera: its override merged over the device's (validated with the config). */
export function cameraPartsSettings(config: Pick<DeviceConfig, 'parts'>, station: Pick<StationConfig, 'parts'>): PartsSettings {
  return station.parts ? partsSettingsSchema.parse(mergeSettings(config.parts, station.parts)) : config.parts;
}
