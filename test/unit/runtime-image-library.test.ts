/**
 * The runtime's libvips settings: its operation cache is off, so encoding a
 * stream of new frames (evidence PNGs, live-view images) leaves nothing
 * behind in it, and libvips uses one thread per image. The runtime applies
 * them at start-up, before anything else.
 */
import t from 'tap';
import sharp from 'sharp';
import { ConfigError } from '../../config/errors.ts';
import { deviceConfigSchema } from '../../config/device.ts';
import { maskPng } from '../../product/heatmap.ts';
import { configureImageLibraryForRuntime } from '../../product/image-io.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';

const SIZE = 32;

/** Encodes `n` different masks, as the runtime does with every reject. */
async function encodeFrames(n: number, seed: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const mask = new Uint8Array(SIZE * SIZE).map((_, p) => ((p + i + seed) % 7 === 0 ? 1 : 0));
    await maskPng(mask, SIZE, SIZE);
  }
}

/** sharp's defaults, as a process starts with them. */
function defaults(): void {
  sharp.cache(true);
  sharp.concurrency(4);
}

t.test('with sharp defaults, encoding new frames fills the operation cache', async (t) => {
  defaults();
  await encodeFrames(5, 0);
  t.ok(sharp.cache().items.current > 0, `cache holds ${sharp.cache().items.current} operations that can never be asked again`);
});

t.test('with the runtime settings, the cache stays empty and libvips uses one thread per image', async (t) => {
  defaults();
  await encodeFrames(5, 0);
  configureImageLibraryForRuntime();
  t.equal(sharp.cache().items.current, 0, 'existing entries are dropped');
  await encodeFrames(20, 1);
  const cache = sharp.cache();
  t.same({ items: cache.items, files: cache.files, memoryMax: cache.memory.max }, { items: { current: 0, max: 0 }, files: { current: 0, max: 0 }, memoryMax: 0 });
  t.equal(sharp.concurrency(), 1);
});

t.test('the runtime applies them at start-up, before it checks the config', async (t) => {
  defaults();
  // A config without cameras is refused at start; the library is configured first.
  await t.rejects(DeviceRuntime.start(deviceConfigSchema.parse({ cameras: [] })), ConfigError);
  t.equal(sharp.cache().items.max, 0);
  t.equal(sharp.concurrency(), 1);
});
