/**
 * Models shared by every camera of a device: one loaded backbone per id and
 * one feature-extractor session per (backbone, layers, input size,
 * aggregation). Products enrolled with the same settings, and every camera
 * scoring them, use the same ONNX sessions; only each product's memory bank
 * has sessions of its own.
 */
import type { InferenceSettings } from '../config/enroll.ts';
import { loadBackbone, type Backbone } from '../models/backbones/registry.ts';
import { FeatureExtractor, type InputSize } from '../models/features/extractor.ts';
import type { Aggregation } from '../models/features/aggregation.ts';
import { sessionOptions } from '../models/session.ts';

export class SharedModels {
  private readonly backbones = new Map<string, Promise<Backbone>>();
  private readonly extractors = new Map<string, Promise<FeatureExtractor>>();

  constructor(
    readonly dataDir: string,
    readonly inference: InferenceSettings,
  ) {}

  backbone(id: string): Promise<Backbone> {
    return cached(this.backbones, id, () => loadBackbone(id, { dataDir: this.dataDir }));
  }

  async extractor(backboneId: string, layers: string[], inputSize: InputSize, aggregation: Aggregation): Promise<FeatureExtractor> {
    const backbone = await this.backbone(backboneId);
    const key = [backbone.id, backbone.sha256, layers.join('+'), `${inputSize.width}x${inputSize.height}`, aggregation].join('|');
    return cached(this.extractors, key, () => FeatureExtractor.create(backbone, layers, inputSize, aggregation, sessionOptions(this.inference)));
  }

  /** Distinct feature-extractor sessions loaded so far. */
  get extractorCount(): number {
    return this.extractors.size;
  }
}

/** A failed load is forgotten, so the next attempt (e.g. after a fix) tries again. */
function cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let entry = map.get(key);
  if (!entry) {
    entry = load();
    map.set(key, entry);
    entry.catch(() => map.delete(key));
  }
  return entry;
}
