/**
 * The device's HTTP endpoint (health, metrics, the technician's web UI) and
 * who may use it: a UI reachable from the plant network must ask for a
 * token or a password.
 */
import { z } from 'zod';
import { isLoopbackHost } from './hosts.ts';

/** Who may use the web UI and its API (/health and /metrics stay open to monitoring probes). */
export const httpAuthSchema = z
  .object({
    /** A shared secret: `Authorization: Bearer <token>`, or typed into the login page. */
    token: z.string().min(16, 'use at least 16 characters').optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(12, 'use at least 12 characters').optional(),
  })
  .strict()
  .superRefine((auth, ctx) => {
    if ((auth.username === undefined) !== (auth.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: [auth.username === undefined ? 'username' : 'password'], message: 'set username and password together' });
    }
  });

export type HttpAuthSettings = z.output<typeof httpAuthSchema>;

/** The device's HTTP endpoint: health, metrics and the technician's web UI. */
export const httpSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** 127.0.0.1 keeps it on the device; 0.0.0.0 exposes it to the plant network (then http.auth is required for the UI). */
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9464),
    /** Serve the web UI and its JSON API next to /health and /metrics. */
    ui: z.boolean().default(true),
    auth: httpAuthSchema.optional(),
    /** Serve HTTPS with this certificate (PEM, with its chain) and key instead of HTTP; the session cookie is then Secure. */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    /**
     * Host names the UI is served as besides the defaults (loopback names; when bound elsewhere also the
     * bind address, the machine's host name and interface addresses); `.plant.example` allows its subdomains.
     * Any other `Host:` header is refused (DNS rebinding).
     */
    allowedHosts: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .superRefine((http, ctx) => {
    const hasAuth = http.auth?.token !== undefined || http.auth?.username !== undefined;
    if (http.enabled && http.ui && !hasAuth && !isLoopbackHost(http.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth'],
        message: `the UI is reachable from the network at ${http.host}; set http.auth.token or username/password (or http.ui: false, or host 127.0.0.1)`,
      });
    }
  });

export type HttpSettings = z.output<typeof httpSettingsSchema>;
