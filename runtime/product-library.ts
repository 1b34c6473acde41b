/**
 * The products a device scores, each at its active version, hot-swapped when
 * a technician activates a new version (enrollment or `activate`). The
 * library polls each product's `active` pointer; a new version is loaded and
 * verified next to the running one and swapped in between two frames. A
 * version that fails to load is reported and the running model stays: the
 * line never stops for a bad artifact.
 *
 * A product with no active version yet (a new device, a product being
 * enrolled) is waiting: its cameras stream without scoring, and the first
 * version activated is loaded by the same poll, without a restart.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ArtifactError, listVersions, readActiveVersion } from '../product/artifact.ts';
import { ProductScorer, type FrameBatchScorer } from '../product/scorer.ts';
import type { SharedModels } from '../product/shared-models.ts';
import type { ScoringThread } from './scoring/scoring-thread.ts';

export interface ProductSwap {
  product: string;
  from: string;
  to: string;
}

/** A waiting product's first version, loaded. */
export interface ProductEnrolled {
  product: string;
  version: string;
}

export interface ProductSwapFailure {
  product: string;
  version: string;
  reason: string;
}

export interface ProductLibraryEvents {
  swap: [ProductSwap];
  enrolled: [ProductEnrolled];
  swapFailed: [ProductSwapFailure];
}

/** How long a replaced model stays loaded so frames already scoring on it finish. */
const RETIRE_AFTER_MS = 5000;

/** Stands for an `active` pointer that names no version (see readActiveVersion). */
const UNREADABLE_POINTER = '(unreadable active pointer)';

/** What a scoring lane scores a version's frames with. */
export type LaneScorer = FrameBatchScorer & { release?(): Promise<void> };

/**
 * A product version as the device serves it: the version on the main thread
 * (manifest, thresholds, anomaly maps built later, mask refinement) and what
 * each scoring lane scores its frames with — `lanes[i]` is scoring thread
 * i's copy when the device scores on threads (scoring/scoring-thread.ts),
 * else the one lane scores with the same version.
 */
export interface ServedProduct {
  readonly scorer: ProductScorer;
  readonly lanes: readonly LaneScorer[];
}

/**
 * What scoring lane `index` scores a served version's frames with. The
 * library makes one copy per scoring thread (or the one main-thread scorer),
 * and the runtime gives each camera a lane of those threads, so a lane
 * without a copy is a wiring error: it is named, never replaced by another
 * lane's copy (that would score on a thread the camera was not given).
 */
export function laneScorer(served: ServedProduct, index: number): LaneScorer {
  const scorer = served.lanes[index];
  if (!scorer) {
    const { productId, version } = served.scorer.manifest;
    throw new Error(`scoring lane ${index} has no copy of ${productId} ${version}: it is served on ${served.lanes.length} lane(s)`);
  }
  return scorer;
}

export class ProductLibrary extends EventEmitter<ProductLibraryEvents> {
  private readonly products = new Map<string, ServedProduct>();
  /** Products with no active version yet, loaded as soon as one is activated. */
  private readonly waiting = new Set<string>();
  /** Versions that failed to load, so a broken artifact is reported once, not every poll. */
  private readonly failed = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private readonly retiring = new Map<NodeJS.Timeout, ServedProduct>();

  /** With `threads`, frames are scored on those scoring threads, one lane each (each version is loaded on every one); `close` ends them. */
  constructor(
    private readonly models: SharedModels,
    private readonly logger?: Logger,
    private readonly threads: readonly ScoringThread[] = [],
  ) {
    super();
  }

  /** Warms a loaded version up and, with scoring threads, loads it on each of them too. */
  private async served(scorer: ProductScorer): Promise<ServedProduct> {
    const lanes: LaneScorer[] = [];
    try {
      await scorer.warmUp();
      const { productId, version } = scorer.manifest;
      for (const thread of this.threads) lanes.push(await thread.load(productId, version, scorer.maxBatch));
      return { scorer, lanes: this.threads.length > 0 ? lanes : [scorer.frames] };
    } catch (err) {
      await Promise.all(lanes.map((lane) => lane.release?.().catch(() => undefined)));
      await scorer.release().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Loads the active version of every product. When the active version is
   * damaged, the newest version that loads is used instead (logged as an
   * error): the line keeps running on a verified model. A product with no
   * active version waits for one (see `waitingProducts`). Throws
   * (ArtifactError) naming the first product whose versions are all unusable.
   */
  async load(productIds: Iterable<string>): Promise<void> {
    for (const id of new Set(productIds)) {
      if (this.products.has(id) || this.waiting.has(id)) continue;
      if (!(await this.activeVersion(id))) {
        this.waiting.add(id);
        this.logger?.warn({ product: id }, `product ${id} is not enrolled yet: its cameras stream without scoring until a version is activated`);
        continue;
      }
      const served = await this.served(await this.loadUsable(id));
      this.products.set(id, served);
      const { version } = served.scorer.manifest;
      this.logger?.info({ product: id, version }, `product ${id} ${version} loaded${this.threads.length === 1 ? ' (scoring on its own thread)' : this.threads.length > 1 ? ` (scoring on ${this.threads.length} threads)` : ''}`);
    }
  }

  private async loadUsable(id: string): Promise<ProductScorer> {
    const { dataDir, inference } = this.models;
    try {
      return await ProductScorer.load(dataDir, id, inference, undefined, this.models);
    } catch (err) {
      const active = await this.activeVersion(id).catch(() => undefined);
      if (!(err instanceof ArtifactError) || !active) throw err;
      for (const version of (await listVersions(dataDir, id)).filter((v) => v !== active).reverse()) {
        try {
          const scorer = await ProductScorer.load(dataDir, id, inference, version, this.models);
          this.failed.set(id, active);
          this.logger?.error({ product: id, active, using: version }, `product ${id}: the active version ${active} cannot be used (${err.message}); scoring with ${version} instead`);
          return scorer;
        } catch {
          // try the next older version
        }
      }
      throw err;
    }
  }

  /** Feature-extractor sessions loaded for all products (shared by products and cameras). */
  get extractorSessions(): number {
    return this.models.extractorCount;
  }

  get(productId: string): ServedProduct {
    const served = this.products.get(productId);
    if (!served) throw new ArtifactError(`product "${productId}" is not loaded`);
    return served;
  }

  /** The product as served, or undefined while it waits for its first active version. */
  find(productId: string): ServedProduct | undefined {
    return this.products.get(productId);
  }

  /** Products with no active version yet. */
  waitingProducts(): string[] {
    return [...this.waiting];
  }

  /** Product id -> active version, as served. */
  versions(): Record<string, string> {
    return Object.fromEntries([...this.products].map(([id, p]) => [id, p.scorer.manifest.version]));
  }

  /** Polls the `active` pointers every `intervalMs`. */
  watch(intervalMs = 2000): void {
    this.unwatch();
    this.timer = setInterval(() => void this.checkForUpdates(), intervalMs);
    this.timer.unref();
  }

  unwatch(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Looks for newly activated versions now and swaps them in; resolves when done. */
  checkForUpdates(): Promise<void> {
    this.checking ??= this.swapChanged().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async swapChanged(): Promise<void> {
    for (const id of [...this.waiting]) await this.loadFirstVersion(id);
    for (const [id, current] of this.products) {
      let active: string | undefined;
      try {
        active = await readActiveVersion(this.models.dataDir, id);
      } catch (err) {
        this.logger?.warn({ product: id, err }, `cannot read the active version of product ${id}`);
        continue;
      }
      const running = current.scorer.manifest.version;
      if (!active || active === running || this.failed.get(id) === active) continue;
      try {
        const next = await this.served(await ProductScorer.load(this.models.dataDir, id, this.models.inference, active, this.models));
        this.products.set(id, next);
        this.failed.delete(id);
        this.retire(current);
        this.logger?.info({ product: id, from: running, to: active }, `product ${id}: now scoring with ${active} (was ${running})`);
        this.emit('swap', { product: id, from: running, to: active });
      } catch (err) {
        this.failed.set(id, active);
        const reason = (err as Error).message;
        this.logger?.error({ product: id, version: active }, `product ${id}: version ${active} cannot be used, still scoring with ${running}: ${reason}`);
        this.emit('swapFailed', { product: id, version: active, reason });
      }
    }
  }

  /**
   * The active version's name; a pointer that names no version (edited,
   * damaged) comes back as UNREADABLE_POINTER, so the product falls back to a
   * version that loads instead of stopping the device.
   */
  private async activeVersion(id: string): Promise<string | undefined> {
    try {
      return await readActiveVersion(this.models.dataDir, id);
    } catch (err) {
      if (err instanceof ArtifactError) return UNREADABLE_POINTER;
      throw err;
    }
  }

  private async loadFirstVersion(id: string): Promise<void> {
    const active = await this.activeVersion(id);
    if (!active || this.failed.get(id) === active) return;
    try {
      const served = await this.served(await ProductScorer.load(this.models.dataDir, id, this.models.inference, active, this.models));
      this.waiting.delete(id);
      this.failed.delete(id);
      this.products.set(id, served);
      this.logger?.info({ product: id, version: active }, `product ${id}: now scoring with ${active}`);
      this.emit('enrolled', { product: id, version: active });
    } catch (err) {
      this.failed.set(id, active);
      const reason = (err as Error).message;
      this.logger?.error({ product: id, version: active }, `product ${id}: version ${active} cannot be used, the product stays unscored: ${reason}`);
      this.emit('swapFailed', { product: id, version: active, reason });
    }
  }

  private retire(served: ServedProduct): void {
    const timer = setTimeout(() => {
      this.retiring.delete(timer);
      void release(served);
    }, RETIRE_AFTER_MS);
    timer.unref();
    this.retiring.set(timer, served);
  }

  /** Stops watching, frees every product's sessions and ends the scoring threads. */
  async close(): Promise<void> {
    this.unwatch();
    await this.checking;
    for (const t of this.retiring.keys()) clearTimeout(t);
    const all = [...this.products.values(), ...this.retiring.values()];
    this.retiring.clear();
    await Promise.all(all.map(release));
    await Promise.all(this.threads.map((thread) => thread.close()));
    this.products.clear();
    this.waiting.clear();
  }
}

/** Frees a version's sessions, on every thread. */
async function release(served: ServedProduct): Promise<void> {
  await Promise.all(served.lanes.map((lane) => lane.release?.().catch(() => undefined)));
  await served.scorer.release().catch(() => undefined);
}
