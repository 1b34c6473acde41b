/**
 * Which ffmpeg decodes the cameras: the configured one, else the system's
 * (on a Jetson it has hardware decoding), else the static binary shipped in
 * the `@ffmpeg-installer/ffmpeg` npm package, so a fresh machine works.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface FfmpegBinary {
  path: string;
  source: 'config' | 'system' | 'bundled';
  /** Major version (4 for the 2018-era snapshots that print `N-...`). */
  major: number;
  /** Minor version (0 when unknown). */
  minor: number;
}

export class FfmpegNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FfmpegNotFoundError';
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function bundled(): string | undefined {
  try {
    const path = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    return executable(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Major and minor version from `ffmpeg -version` (`5.1.9-...` -> 5, 1; `N-...` snapshots -> 4, 0). */
export function parseFfmpegVersion(versionLine: string): { major: number; minor: number } {
  const m = /ffmpeg version n?(\d+)\.(\d+)/i.exec(versionLine);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : { major: 4, minor: 0 };
}

const cache = new Map<string, FfmpegBinary>();

export function resolveFfmpeg(explicit?: string, env: NodeJS.ProcessEnv = process.env): FfmpegBinary {
  const key = explicit ?? '';
  const hit = cache.get(key);
  if (hit) return hit;
  let path: string | undefined;
  let source: FfmpegBinary['source'];
  if (explicit) {
    if (!executable(explicit)) throw new FfmpegNotFoundError(`ffmpegPath "${explicit}" is not an executable file`);
    path = explicit;
    source = 'config';
  } else if ((path = onPath('ffmpeg', env))) {
    source = 'system';
  } else if ((path = bundled())) {
    source = 'bundled';
  } else {
    throw new FfmpegNotFoundError('no ffmpeg found: install it (apt-get install ffmpeg) or reinstall linesight so @ffmpeg-installer/ffmpeg is present');
  }
  const probe = spawnSync(path, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) throw new FfmpegNotFoundError(`${path} does not run (${probe.error?.message ?? probe.stderr.split('\n')[0] ?? `exit ${probe.status}`})`);
  const binary = { path, source, ...parseFfmpegVersion(probe.stdout.split('\n')[0] ?? '') };
  cache.set(key, binary);
  return binary;
}
