/**
 * The device's optional services beside the line itself, each off unless its
 * config section turns it on: the OPC UA machine-vision server (`opcua`), the
 * evidence kept for review (`records`) and fleet sync of signed product
 * versions (`fleet`). They reach the device only through `ServiceHost`, so
 * each can be tested against a stand-in and the runtime wires them in one
 * place.
 */
import type { Logger } from 'pino';
import type { DeviceConfig } from '../config/device.ts';
import { listVersions, readActiveVersion } from '../product/artifact.ts';
import { activateProductVersion, listProductSummaries } from '../product/versions.ts';
import type { ScoredFrame } from './camera-pipeline.ts';
import { startFleetSync, type FleetSync } from './fleet/fleet-sync.ts';
import type { DeviceHealth } from './health.ts';
import { runtimeClientConfig } from './mqtt/embedded-broker-options.ts';
import { visionSystemState, type VisionDevicePort } from './opcua/device-port.ts';
import { defaultPkiDir } from './opcua/security.ts';
import { VisionOpcUaServer } from './opcua/server.ts';
import type { TriggerResult } from './parts/part-line.ts';
import type { PartCountersPayload, PartVerdictPayload } from './parts/payloads.ts';
import { createEvidenceRecorder, type EvidenceRecorder } from './records/evidence-recorder.ts';

/** What the services need from the running device. */
export interface ServiceHost {
  health(): DeviceHealth;
  onPartVerdict(listener: (part: PartVerdictPayload) => void): () => void;
  trigger(camera: string, payload: unknown): TriggerResult;
  resetCounters(camera: string): boolean;
  partCounters(): Record<string, PartCountersPayload>;
}

export interface DeviceServices {
  /** Feeds a scored frame to the evidence recorder (its last frames per camera). */
  onScored(frame: ScoredFrame): void;
  /** Problems the services see (disk floor, dropped records, score drift, refused fleet versions). */
  healthWarnings(): string[];
  close(): Promise<void>;
}

/** The OPC UA server's view of the device: state, recipes (products and versions), triggers, results and counters. */
export function visionDevicePort(host: ServiceHost, dataDir: string): VisionDevicePort {
  return {
    systemState() {
      const h = host.health();
      return visionSystemState({
        fault: false,
        starting: false,
        camerasStreaming: h.cameras.every((c) => c.state === 'streaming'),
        brokerConnected: h.mqtt.state === 'online',
        productsLoaded: h.cameras.every((c) => c.modelVersion !== null),
      });
    },
    cameras: () => host.health().cameras.map((c) => ({ id: c.id, product: c.product, activeVersion: c.modelVersion })),
    async recipes() {
      const products = await listProductSummaries(dataDir);
      return Promise.all(products.map(async (p) => ({ product: p.product, versions: await listVersions(dataDir, p.product), active: (await readActiveVersion(dataDir, p.product)) ?? null })));
    },
    async selectRecipe(product, version) {
      await activateProductVersion(dataDir, product, version);
    },
    trigger(camera, partId, delayMs) {
      const result = host.trigger(camera, delayMs === undefined ? { partId } : { partId, delayMs });
      return result.ok ? { accepted: true } : { accepted: result.error === 'overlapping_trigger', error: result.error };
    },
    onVerdict: (listener) => host.onPartVerdict(listener),
    counters(camera) {
      const c = host.partCounters()[camera];
      if (!c) throw new Error(`no camera "${camera}" on this device`);
      return c;
    },
    resetCounters(camera) {
      if (!host.resetCounters(camera)) throw new Error(`no camera "${camera}" on this device`);
    },
  };
}

export async function startDeviceServices(host: ServiceHost, config: DeviceConfig, opts: { logger: Logger; brokerUrl?: string; softwareVersion: string }): Promise<DeviceServices> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((err: Error) => opts.logger.warn({ err }, `stopping a device service: ${err.message}`));
  };
  try {
    const recorder: EvidenceRecorder | undefined = createEvidenceRecorder(config, { partVerdicts: config.cameras.every((c) => (c.parts?.mode ?? config.parts.mode) !== 'frames'), logger: opts.logger.child({ part: 'records' }) });
    if (recorder) {
      const unsubscribe = host.onPartVerdict((v) => recorder.onPartVerdict(v));
      closers.push(async () => {
        unsubscribe();
        await recorder.close();
      });
    }
    let fleet: FleetSync | undefined;
    if (config.fleet.enabled) {
      fleet = await startFleetSync({
        config: { ...config, mqtt: runtimeClientConfig(config.mqtt) },
        fleet: config.fleet,
        brokerUrl: opts.brokerUrl,
        logger: opts.logger.child({ part: 'fleet' }),
        activate: (product, version) => activateProductVersion(config.dataDir, product, version),
      });
      closers.push(() => fleet!.close());
    }
    if (config.opcua.enabled) {
      const server = new VisionOpcUaServer({ ...config.opcua, pkiDir: config.opcua.pkiDir ?? defaultPkiDir(config.dataDir), softwareVersion: opts.softwareVersion }, visionDevicePort(host, config.dataDir));
      await server.start();
      closers.push(() => server.stop());
      opts.logger.info(`OPC UA server listening on ${config.opcua.host}:${config.opcua.port}`);
    }
    return {
      onScored: (frame) => recorder?.onScored(frame),
      healthWarnings: () => [
        ...(recorder?.healthWarnings() ?? []),
        ...(fleet?.outcomes() ?? []).filter((o) => o.state === 'refused' || o.state === 'failed').map((o) => `fleet: ${o.product} ${o.version} from ${o.from} ${o.state}${o.detail ? `: ${o.detail}` : ''}`),
      ],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
