/**
 * Fleet sync on a device: listens to the versions the other devices of the
 * plant announce (`<prefix>/+/versions/+`), and for each product this device
 * inspects fetches the bundle, checks it (trusted signature, every checksum),
 * installs it and — under `fleet.policy: auto` — activates it; the product
 * library then hot-swaps between two frames. Under `manual` the version is
 * kept and listed until a technician runs `linesight activate`.
 *
 * Announcements are handled one at a time, in arrival order; a failed
 * fetch (the peer down) is tried again after `fleet.retryMs`. Auto
 * activation only ever moves forward (a higher version number than the
 * active one): an old retained announcement of another device never rolls a
 * product back. The last outcome per product is kept for health.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { FleetConfig } from '../../config/fleet.ts';
import type { MqttConfig } from '../../config/mqtt.ts';
import { ArtifactError, listVersions, readActiveVersion } from '../../product/artifact.ts';
import { BundleError, installVersionBundle, type TrustPolicy } from '../../product/bundle.ts';
import { loadTrustKeys } from '../../product/signing.ts';
import type { VersionAnnouncement } from '../mqtt/payloads.ts';
import { allVersionsFilter } from '../mqtt/topics.ts';
import { parseAnnouncement, parseVersionTopic } from './announcement.ts';
import { deviceBrokerUrl, fleetClientOptions } from './broker-client.ts';
import { fetchBundle } from './fetch-bundle.ts';

export type FleetOutcomeState = 'activated' | 'installed' | 'present' | 'refused' | 'failed';

export interface FleetOutcome {
  product: string;
  version: string;
  /** The announcing device. */
  from: string;
  state: FleetOutcomeState;
  detail: string;
  at: string;
}

export interface FleetSyncOptions {
  /** The device config's parts fleet sync reads: broker and ids, the products of its cameras, the data folder. */
  config: { mqtt: MqttConfig; cameras: readonly { product: string }[]; dataDir: string };
  fleet: FleetConfig;
  /** Broker to subscribe on; default mqtt.url, else the embedded broker's address. */
  brokerUrl?: string;
  logger?: Logger;
  /** Makes a version active (the runtime passes activateProductVersion). */
  activate(product: string, version: string): Promise<unknown>;
}

export interface FleetSync {
  /** The last outcome per product, for health. */
  outcomes(): FleetOutcome[];
  /** Resolves when every announcement received so far has been handled. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const versionNumber = (v: string | undefined) => (v ? Number(v.slice(1)) : 0);

/** Whether auto activation moves a product from `active` to `version` (pure): forward only. */
export function activatesForward(active: string | undefined, version: string): boolean {
  return versionNumber(version) > versionNumber(active);
}

export async function startFleetSync(opts: FleetSyncOptions): Promise<FleetSync> {
  const { config, fleet, logger } = opts;
  const policy: TrustPolicy = { trustKeys: await loadTrustKeys(fleet.trustKeys), allowUnsigned: fleet.allowUnsigned };
  const products = new Set(config.cameras.map((c) => c.product));
  const outcomes = new Map<string, FleetOutcome>();
  const client: MqttClient = mqtt.connect(opts.brokerUrl ?? deviceBrokerUrl(config.mqtt), await fleetClientOptions(config.mqtt, 'fleet'));
  const filter = allVersionsFilter(config.mqtt.prefix);
  let queue: Promise<void> = Promise.resolve();
  let closed = false;
  /** The newest announcement per device and product: a retry is dropped once a newer one arrived. */
  const latest = new Map<string, VersionAnnouncement>();
  const retries = new Set<NodeJS.Timeout>();

  const record = (a: VersionAnnouncement, from: string, state: FleetOutcomeState, detail: string) => {
    outcomes.set(a.product, { product: a.product, version: a.version, from, state, detail, at: new Date().toISOString() });
    const line = `fleet: ${a.product} ${a.version} from ${from}: ${state}${detail ? ` (${detail})` : ''}`;
    if (state === 'refused' || state === 'failed') logger?.warn({ product: a.product, version: a.version, from, state }, line);
    else logger?.info({ product: a.product, version: a.version, from, state }, line);
  };

  const handle = async (a: VersionAnnouncement, from: string): Promise<void> => {
    const present = (await listVersions(config.dataDir, a.product)).includes(a.version);
    let state: FleetOutcomeState = 'present';
    let detail = '';
    if (!present) {
      const bundle = await fetchBundle(a.url, { timeoutMs: fleet.fetchTimeoutMs, maxBytes: fleet.maxBundleBytes, token: fleet.fetchToken, sha256: a.sha256 });
      const installed = await installVersionBundle(config.dataDir, bundle, policy, a.product);
      state = installed.alreadyPresent ? 'present' : 'installed';
    }
    const active = await readActiveVersion(config.dataDir, a.product);
    if (fleet.policy === 'auto' && activatesForward(active, a.version)) {
      await opts.activate(a.product, a.version);
      state = 'activated';
      detail = `was ${active ?? 'none'}`;
    } else if (fleet.policy === 'manual' && state === 'installed') {
      detail = `activate with: linesight activate --product ${a.product} --version ${a.version}`;
    }
    record(a, from, state, detail);
  };

  client.on('connect', () => {
    client.subscribe(filter, { qos: 1 }, (err) => {
      if (err) logger?.error({ err }, `fleet: subscribing to ${filter} failed: ${err.message}`);
    });
  });
  client.on('error', (err) => logger?.warn({ err }, `fleet: broker connection: ${err.message}`));
  client.on('message', (topic, payload) => {
    const where = parseVersionTopic(config.mqtt.prefix, topic);
    if (!where || where.device === config.mqtt.deviceId || !products.has(where.product) || payload.length === 0) return;
    const parsed = parseAnnouncement(where.product, payload);
    if ('problem' in parsed) {
      logger?.warn({ topic }, `fleet: ignored ${topic}: ${parsed.problem}`);
      return;
    }
    latest.set(`${where.device}/${where.product}`, parsed.announcement);
    enqueue(parsed.announcement, where.device);
  });

  /** Handles an announcement in turn; a failed fetch is tried again after fleet.retryMs, a refused version never. */
  function enqueue(a: VersionAnnouncement, from: string): void {
    queue = queue.then(async () => {
      if (closed || latest.get(`${from}/${a.product}`) !== a) return;
      try {
        await handle(a, from);
      } catch (err) {
        const refused = err instanceof BundleError || err instanceof ArtifactError;
        record(a, from, refused ? 'refused' : 'failed', `${(err as Error).message}${refused ? '' : `; trying again in ${fleet.retryMs / 1000} s`}`);
        if (!refused && !closed) {
          const timer = setTimeout(() => {
            retries.delete(timer);
            enqueue(a, from);
          }, fleet.retryMs);
          retries.add(timer);
        }
      }
    });
  }

  return {
    outcomes: () => [...outcomes.values()].sort((a, b) => a.product.localeCompare(b.product)),
    idle: () => queue,
    async close() {
      closed = true;
      for (const timer of retries) clearTimeout(timer);
      await client.endAsync();
      await queue;
    },
  };
}
