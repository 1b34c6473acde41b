/**
 * Settings of the device's OPC UA server (the `opcua` section of the device
 * config, off by default): where it listens, who may log in, and which
 * security it offers. A plant's PLC connects with Basic256Sha256 (Sign or
 * SignAndEncrypt) and a user name; anonymous access and the `None` security
 * policy exist for a client on the device itself and are refused unless the
 * server listens on loopback only, as the HTTP server refuses an open UI.
 */
import { z } from 'zod';
import { isLoopbackHost } from './hosts.ts';

/** One OPC UA login. */
export const opcuaUserSchema = z
  .object({
    username: z.string().min(1).max(64),
    password: z.string().min(8, 'use at least 8 characters'),
  })
  .strict();
export type OpcUaUser = z.output<typeof opcuaUserSchema>;

/** What the loopback rule looks at; the runtime checks it again when the server starts. */
export interface OpcUaExposure {
  host: string;
  allowAnonymous: boolean;
  allowSecurityNone: boolean;
}

/** The settings that open the server to a client without credentials or without security, while the server is reachable from the network. */
export function opcuaExposureProblems(settings: OpcUaExposure): { key: 'allowAnonymous' | 'allowSecurityNone'; message: string }[] {
  if (isLoopbackHost(settings.host)) return [];
  const problems: { key: 'allowAnonymous' | 'allowSecurityNone'; message: string }[] = [];
  if (settings.allowAnonymous) {
    problems.push({
      key: 'allowAnonymous',
      message: `the OPC UA server is reachable from the network at ${settings.host}; anonymous access is allowed only on loopback: set opcua.allowAnonymous: false and add opcua.users (or host 127.0.0.1)`,
    });
  }
  if (settings.allowSecurityNone) {
    problems.push({
      key: 'allowSecurityNone',
      message: `the OPC UA server is reachable from the network at ${settings.host}; security policy None is allowed only on loopback: set opcua.allowSecurityNone: false so clients use Basic256Sha256 (or host 127.0.0.1)`,
    });
  }
  return problems;
}

export const opcuaSettingsSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** 127.0.0.1 keeps the server on the device; 0.0.0.0 exposes it to the plant network (then users and Basic256Sha256 only). */
    host: z.string().min(1).default('127.0.0.1'),
    /** 4840 is the port IANA registered for OPC UA. */
    port: z.number().int().min(0).max(65535).default(4840),
    /** Sessions without a user name (loopback only). */
    allowAnonymous: z.boolean().default(false),
    /** Endpoints with security policy None, unsigned and unencrypted (loopback only). */
    allowSecurityNone: z.boolean().default(false),
    users: z.array(opcuaUserSchema).default([]),
    /** The server's certificate store; default `<dataDir>/opcua/pki`. */
    pkiDir: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((opcua, ctx) => {
    if (!opcua.enabled) return;
    for (const problem of opcuaExposureProblems(opcua)) ctx.addIssue({ code: 'custom', path: [problem.key], message: problem.message });
    if (!opcua.allowAnonymous && opcua.users.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['users'], message: 'no one could log in to the OPC UA server; add opcua.users (username and password), or allowAnonymous: true on host 127.0.0.1' });
    }
    const seen = new Set<string>();
    opcua.users.forEach((user, i) => {
      if (seen.has(user.username)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `user "${user.username}" is listed twice` });
      seen.add(user.username);
    });
  });

export type OpcUaSettings = z.output<typeof opcuaSettingsSchema>;
