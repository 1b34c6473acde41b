/**
 * MQTT settings of a device (the `mqtt` section of the device config).
 * Without `url` the runtime starts the embedded broker on
 * `embeddedBroker.host:port`, so a fresh machine runs end to end.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { isLoopbackHost } from './hosts.ts';
import { nameRule, validateSparkplugId, validateTopicId, validateTopicPrefix } from './names.ts';

const brokerUrlSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL; write e.g. mqtt://broker.local:1883 or mqtts://broker.local:8883` });
    return;
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') {
    ctx.addIssue({ code: 'custom', message: `"${value}" uses ${url.protocol}; linesight speaks mqtt:// and mqtts:// (TLS)` });
  }
  if (!url.hostname) ctx.addIssue({ code: 'custom', message: `"${value}" has no host name` });
});

export const mqttTlsSchema = z
  .object({
    /** CA certificate (PEM file) that signed the broker's certificate. */
    ca: z.string().min(1).optional(),
    /** Client certificate (PEM file) when the broker requires one; needs `key`. */
    cert: z.string().min(1).optional(),
    /** Private key (PEM file) of the client certificate. */
    key: z.string().min(1).optional(),
    /** Verify the broker's certificate. Turn off only on a bench, never on a line. */
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if (tls.cert && !tls.key) ctx.addIssue({ code: 'custom', path: ['key'], message: 'a client certificate (tls.cert) needs its private key (tls.key)' });
    if (tls.key && !tls.cert) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'a private key (tls.key) needs its client certificate (tls.cert)' });
  });

/**
 * Sparkplug B settings (`mqtt.encoding: sparkplug`). The device is one edge
 * node, each camera one Sparkplug device named by its camera id.
 */
export const sparkplugSchema = z
  .object({
    /** Sparkplug group id; default: the topic prefix (when it is one level). */
    groupId: z.string().superRefine(nameRule((v) => validateSparkplugId('group id', v))).optional(),
    /** Sparkplug edge node id; default: mqtt.deviceId. */
    edgeNodeId: z.string().superRefine(nameRule((v) => validateSparkplugId('edge node id', v))).optional(),
  })
  .strict();

/**
 * The embedded broker: where it listens, its account (required off
 * loopback), its limits, and whether it keeps sessions and QoS 1 messages on
 * disk (default: yes, under `<dataDir>/embedded-broker`, so a reject it has
 * acknowledged reaches a PLC that connects later, across restarts).
 */
export const embeddedBrokerSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(1883),
    /** Keep sessions, subscriptions and QoS 1 messages on disk across restarts. */
    persist: z.boolean().default(true),
    /** Wait for fsync on every store write (an acknowledged reject survives a power cut). */
    syncWrites: z.boolean().default(true),
    /** The broker's account: every client (the runtime's own, the PLC's) logs in with it; anonymous clients are refused. */
    username: z.string().min(1).optional(),
    password: z.string().min(12, 'use at least 12 characters').optional(),
    /** Topic filters other clients may publish to inside the device's topics; default: the trigger and command topics. */
    clientPublishTopics: z.array(z.string().min(1)).optional(),
    /** Largest message a client other than the runtime may send, in bytes. */
    maxMessageBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(64 * 1024),
    /** Retained messages kept at most, and their total bytes. */
    maxRetainedMessages: z.number().int().min(1).max(1_000_000).default(1000),
    maxRetainedBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.username === undefined) !== (b.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: [b.username === undefined ? 'username' : 'password'], message: 'set username and password together' });
    }
    if (!isLoopbackHost(b.host) && b.username === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['username'],
        message: `the embedded MQTT broker is reachable from the network at ${b.host}; set mqtt.embeddedBroker.username and password (or host 127.0.0.1)`,
      });
    }
  });

export const mqttConfigSchema = z
  .object({
    /** Broker URL, mqtt:// or mqtts://. Absent: the embedded broker is started. */
    url: brokerUrlSchema.optional(),
    /**
     * More brokers of the same cluster (mqtt:// or mqtts://, same account and
     * TLS settings as `url`). After a lost connection each attempt goes to the
     * next one in turn (url, servers[0], servers[1], ..., url, ...), so a
     * device follows the cluster when the node it was on stops.
     */
    servers: z.array(brokerUrlSchema).min(1).optional(),
    /** First topic level(s); may hold several levels (`plant2/linesight`). */
    prefix: z.string().superRefine(nameRule(validateTopicPrefix)).default('linesight'),
    /** Names this device in every topic and its reject outbox directory. */
    deviceId: z.string().superRefine(nameRule((v) => validateTopicId('device id', v))),
    /** MQTT client id; default `linesight-<deviceId>`. Two devices must never share one. */
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    tls: mqttTlsSchema.optional(),
    /** QoS of result messages: 0 (default, live data) or 1. Rejects are always QoS 1. */
    resultQos: z.union([z.literal(0), z.literal(1)]).default(0),
    /** Folder holding one reject outbox per device; default `<dataDir>/outbox`. */
    outboxDir: z.string().min(1).optional(),
    /** Most unacknowledged rejects kept on disk; beyond it new rejects are refused loudly, never dropped. */
    outboxMax: z.number().int().min(1).max(10_000_000).default(100_000),
    /** The broker started inside the runtime when no `url` is given. */
    embeddedBroker: embeddedBrokerSchema.default(() => embeddedBrokerSchema.parse({})),
    /** Reconnect delay: starts at initialMs, doubles per failed attempt up to maxMs. */
    reconnect: z
      .object({
        initialMs: z.number().int().min(10).default(1000),
        maxMs: z.number().int().min(10).default(30_000),
      })
      .strict()
      .default({ initialMs: 1000, maxMs: 30_000 })
      .refine((r) => r.maxMs >= r.initialMs, { message: 'reconnect.maxMs must be at least reconnect.initialMs' }),
    /** Give up one connection attempt after this long. */
    connectTimeoutMs: z.number().int().min(100).default(10_000),
    /** MQTT keepalive; the broker declares the device offline (last will) after 1.5x this without traffic. */
    keepaliveSeconds: z.number().int().min(1).max(65535).default(15),
    /** Message format: `json` (linesight's own topics) or `sparkplug` (Eclipse Sparkplug B 3.0). */
    encoding: z.enum(['json', 'sparkplug'], { message: 'must be "json" or "sparkplug"' }).default('json'),
    /** Group and edge node ids when encoding is sparkplug. */
    sparkplug: sparkplugSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.password !== undefined && c.username === undefined) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'a password is set but no username' });
    }
    if (c.tls && c.url?.startsWith('mqtt://')) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `tls is set but the url "${c.url}" is plain mqtt://; use mqtts://` });
    }
    if (c.servers && c.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['servers'], message: 'mqtt.servers lists more brokers of a cluster, but mqtt.url (the first one) is not set' });
    }
    for (const [i, server] of (c.servers ?? []).entries()) {
      if (c.tls && server.startsWith('mqtt://')) {
        ctx.addIssue({ code: 'custom', path: ['servers', i], message: `tls is set but "${server}" is plain mqtt://; use mqtts://` });
      }
      if (server.includes('@')) {
        ctx.addIssue({ code: 'custom', path: ['servers', i], message: `"${server}" carries credentials; every broker of mqtt.servers uses mqtt.username and mqtt.password` });
      }
    }
    if (c.sparkplug && c.encoding !== 'sparkplug') {
      ctx.addIssue({ code: 'custom', path: ['sparkplug'], message: 'Sparkplug settings are given but mqtt.encoding is "json"; set mqtt.encoding: sparkplug or remove mqtt.sparkplug' });
    }
    if (c.encoding === 'sparkplug' && c.sparkplug?.groupId === undefined) {
      try {
        validateSparkplugId('group id', c.prefix);
      } catch {
        ctx.addIssue({
          code: 'custom',
          path: ['sparkplug', 'groupId'],
          message: `not set, and the topic prefix "${c.prefix}" cannot serve as the Sparkplug group id (it must be one level without "/", "+" or "#"); set mqtt.sparkplug.groupId`,
        });
      }
    }
  });

export type MqttConfig = z.output<typeof mqttConfigSchema>;
export type MqttConfigInput = z.input<typeof mqttConfigSchema>;

/** The client id used on the broker. */
export function mqttClientId(config: MqttConfig): string {
  return config.clientId ?? `linesight-${config.deviceId}`;
}

export interface SparkplugIds {
  groupId: string;
  edgeNodeId: string;
}

/** The Sparkplug group and edge node ids, defaults applied (group: the prefix; edge node: the device id). */
export function sparkplugIds(config: MqttConfig): SparkplugIds {
  return { groupId: config.sparkplug?.groupId ?? config.prefix, edgeNodeId: config.sparkplug?.edgeNodeId ?? config.deviceId };
}

/** Directory of this device's reject outbox. */
export function rejectOutboxDir(config: MqttConfig, dataDir: string): string {
  return join(config.outboxDir ?? join(dataDir, 'outbox'), config.deviceId);
}
