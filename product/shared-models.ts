/**
 * Models shared by every camera of a device: one loaded backbone per id and
 * one feature-extractor session per (backbone, layers, input size,
 * aggregation, precision). Products enrolled with the same settings, and every camera
 * scoring them, use the same ONNX sessions; only each product's memory bank
 * has sessions of its own.
 */
import { createHash } from 'node:crypto';
import type { InferenceSettings } from '../config/enroll.ts';
import type { ActivationRanges } from '../models/onnx/emit-int8.ts';
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

  /** `int8Ranges`: the product's calibrated activation ranges for an int8 backbone (its own session); absent: float32. */
  async extractor(backboneId: string, layers: string[], inputSize: InputSize, aggregation: Aggregation, int8Ranges?: ActivationRanges): Promise<FeatureExtractor> {
    const backbone = await this.backbone(backboneId);
    const precision = int8Ranges ? `int8:${createHash('sha256').update(JSON.stringify(int8Ranges)).digest('hex')}` : 'float32';
    const key = [backbone.id, backbone.sha256, layers.join('+'), `${inputSize.width}x${inputSize.height}`, aggregation, precision].join('|');
    return cached(this.extractors, key, () => FeatureExtractor.create(backbone, layers, inputSize, aggregation, sessionOptions(this.inference), int8Ranges));
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
