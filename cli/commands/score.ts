/**
 * `linesight score`: score image files against an enrolled product, one line
 * (or JSON object) per image, optionally with heatmap and mask PNGs. An
 * unreadable image is reported and the exit status is 1; the others are scored.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import { maskPng, overlayPng } from '../../product/heatmap.ts';
import { ImageReadError, readImage } from '../../product/image-io.ts';
import { ProductScorer } from '../../product/scorer.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';
import { fmt } from '../format.ts';

interface ScoreFlags extends DeviceFlags {
  product: string;
  version?: string;
  json?: boolean;
  heatmap?: string;
}

export function addScoreCommand(program: Command): void {
  program
    .command('score')
    .description('score images against an enrolled product')
    .requiredOption('--product <id>', 'product id')
    .argument('<images...>', 'image files')
    .option('--version <v>', 'product version (default: the active one)')
    .option('--json', 'print one JSON object per image')
    .option('--heatmap <dir>', 'write heatmap overlays and masks as PNG into this folder')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(score);
}

async function score(images: string[], flags: ScoreFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const scorer = await ProductScorer.load(config.dataDir, productId(flags.product), config.inference, flags.version);
  if (flags.heatmap) await mkdir(flags.heatmap, { recursive: true });
  let failed = 0;
  for (const path of images) {
    let image;
    try {
      image = await readImage(path, scorer.inputSize);
    } catch (err) {
      if (!(err instanceof ImageReadError)) throw err;
      failed++;
      console.error(`cannot score ${err.message}`);
      continue;
    }
    const r = await scorer.score(image);
    if (flags.heatmap) {
      const { width, height } = scorer.inputSize;
      const stem = basename(path, extname(path));
      await writeFile(join(flags.heatmap, `${stem}_heatmap.png`), await overlayPng(r.image, r.map, r.mask, width, height, scorer.manifest.thresholds.pixel));
      await writeFile(join(flags.heatmap, `${stem}_mask.png`), await maskPng(r.mask, width, height));
    }
    if (flags.json) {
      const { timings, score, threshold, verdict, regions } = r;
      console.log(JSON.stringify({ file: path, product: scorer.manifest.productId, modelVersion: scorer.manifest.version, score, threshold, verdict, regions, ...(r.pose ? { pose: r.pose } : {}), timings: { ...timings, alignMs: r.alignMs } }));
    } else {
      console.log(`${path}  score ${fmt(r.score)}  threshold ${fmt(r.threshold)}  ${r.verdict.toUpperCase()}  regions ${r.regions.length}  ${fmt(r.timings.totalMs, 1)} ms`);
    }
  }
  if (failed > 0) process.exitCode = 1;
}
