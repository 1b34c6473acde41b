/**
 * What batching buys: milliseconds per frame when N frames go through one
 * backbone run (`scoreBatch`) against N single runs, and the cost of a
 * tiled camera frame (k tiles at the product's input size = a batch of k).
 * Rounds interleave the two ways (alternating which goes first) so a noisy,
 * shared machine hits both alike; medians are reported, with the process CPU
 * time per frame (how many cores a camera really needs).
 */
import { performance } from 'node:perf_hooks';
import type { ProductScorer } from '../product/scorer.ts';
import { median, round } from './bench-common.ts';

type Frame = { data: Float32Array };

export interface BatchCost {
  /** Wall-clock ms per frame, one batch of N. */
  batchedMs: number;
  /** Wall-clock ms per frame, N single runs. */
  sequentialMs: number;
  /** Process CPU ms per frame (all threads), batched and sequential. */
  batchedCpuMs: number;
  sequentialCpuMs: number;
  speedup: number;
}

/** Wall-clock and CPU ms of one call. */
async function timed(work: () => Promise<unknown>): Promise<{ ms: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Frames `count` long, cycling through `pool`. */
function framesOf(pool: Frame[], count: number): Frame[] {
  return Array.from({ length: count }, (_, i) => pool[i % pool.length]!);
}

/** Batched against sequential ms per frame for every batch size in `counts`. */
export async function measureBatchCost(scorer: ProductScorer, pool: Frame[], counts: number[], rounds: number): Promise<Record<string, BatchCost>> {
  const samples = new Map(counts.map((n) => [n, { batched: [] as number[], sequential: [] as number[], batchedCpu: [] as number[], sequentialCpu: [] as number[] }]));
  await scorer.scoreBatch(framesOf(pool, Math.max(...counts)));
  for (let r = 0; r < rounds; r++) {
    for (const n of counts) {
      const frames = framesOf(pool, n);
      const s = samples.get(n)!;
      const batched = () => timed(() => scorer.scoreBatch(frames));
      const sequential = () =>
        timed(async () => {
          for (const f of frames) await scorer.score(f);
        });
      const first = r % 2 === 0 ? await batched() : await sequential();
      const second = r % 2 === 0 ? await sequential() : await batched();
      const [b, q] = r % 2 === 0 ? [first, second] : [second, first];
      s.batched.push(b.ms / n);
      s.batchedCpu.push(b.cpuMs / n);
      s.sequential.push(q.ms / n);
      s.sequentialCpu.push(q.cpuMs / n);
    }
  }
  const result: Record<string, BatchCost> = {};
  for (const [n, s] of samples) {
    const batchedMs = median(s.batched);
    const sequentialMs = median(s.sequential);
    result[String(n)] = {
      batchedMs: round(batchedMs),
      sequentialMs: round(sequentialMs),
      batchedCpuMs: round(median(s.batchedCpu)),
      sequentialCpuMs: round(median(s.sequentialCpu)),
      speedup: round(sequentialMs / batchedMs),
    };
  }
  return result;
}

export interface TileCost {
  /** Wall-clock ms per camera frame of k tiles (one batch). */
  ms: number;
  /** Process CPU ms per camera frame. */
  cpuMs: number;
}

/** Ms per camera frame cut into k tiles at the product's input size, scored as one batch of k. */
export async function measureTileCost(scorer: ProductScorer, pool: Frame[], tileCounts: number[], rounds: number): Promise<Record<string, TileCost>> {
  const samples = new Map(tileCounts.map((k) => [k, { ms: [] as number[], cpuMs: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    for (const k of tileCounts) {
      const t = await timed(() => scorer.scoreBatch(framesOf(pool, k)));
      samples.get(k)!.ms.push(t.ms);
      samples.get(k)!.cpuMs.push(t.cpuMs);
    }
  }
  const result: Record<string, TileCost> = {};
  for (const [k, s] of samples) result[String(k)] = { ms: round(median(s.ms)), cpuMs: round(median(s.cpuMs)) };
  return result;
}

/**
 * What one camera needs at `fps` when each frame costs `cost`: the share of
 * the scoring lane (wall-clock, 1 = the lane is never idle) and cores of
 * CPU time.
 */
export function cameraNeeds(cost: TileCost, fps: number): { laneShare: number; cores: number; budgetMs: number } {
  return { laneShare: round((cost.ms * fps) / 1000), cores: round((cost.cpuMs * fps) / 1000), budgetMs: round(1000 / fps, 1) };
}
