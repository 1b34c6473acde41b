/**
 * Fleet settings of a device (the `fleet` section of the device config):
 * whether it takes product versions announced by the other devices of the
 * plant, which signing keys it trusts, and whether a received version
 * becomes active by itself (`auto`) or waits for a technician (`manual`).
 */
import { z } from 'zod';

export const fleetConfigSchema = z
  .object({
    /** Subscribe to the versions other devices announce and install those of this device's products. */
    enabled: z.boolean().default(false),
    /** `auto`: a verified version becomes active at once; `manual`: it is kept and listed, `linesight activate` switches to it. */
    policy: z.enum(['auto', 'manual']).default('manual'),
    /** Public keys (PEM written inline, or the path of a PEM file) whose signatures this device accepts. */
    trustKeys: z.array(z.string().min(1)).default([]),
    /**
     * Without trust keys, accept versions whose signature cannot be checked. Off by default: anyone who
     * can publish on the broker could otherwise replace the model that decides rejects.
     */
    allowUnsigned: z.boolean().default(false),
    /** Give up fetching a bundle after this long. */
    fetchTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    /** After a failed fetch (peer down, timeout), try the same announcement again after this long. */
    retryMs: z.number().int().min(100).max(86_400_000).default(60_000),
    /** Largest bundle fetched; a larger one is refused without being kept. */
    maxBundleBytes: z.number().int().min(1024).max(16 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
    /**
     * Base URL other devices fetch this device's bundles from, e.g. `https://cam-3.plant.example:9464`
     * (`/api/products/<id>/versions/<v>/bundle` is appended). Default: built from http.host and http.port.
     */
    publishUrl: z.string().url().optional(),
    /** Bearer token sent when fetching bundles (the publishing devices' http.auth.token). */
    fetchToken: z.string().min(16, 'use at least 16 characters').optional(),
  })
  .strict()
  .superRefine((fleet, ctx) => {
    if (fleet.enabled && fleet.trustKeys.length === 0 && !fleet.allowUnsigned) {
      ctx.addIssue({ code: 'custom', path: ['trustKeys'], message: 'fleet sync needs the public key of the plant signing key (fleet.trustKeys), or fleet.allowUnsigned: true on a bench' });
    }
  });

export type FleetConfig = z.output<typeof fleetConfigSchema>;
