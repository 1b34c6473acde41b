/**
 * The device's other entry points for outside input, fuzzed with fast-check:
 * the config loader (random and mutated YAML/JSON), MQTT trigger and command
 * payloads, the image decoder (random, mutated and truncated PNG/JPEG) and the
 * product artifact loader (mutated manifests, truncated tensor files). Each
 * input must be accepted or refused with the entry point's own error class
 * and a message without a stack trace — never another exception or a hang.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import t from 'tap';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from '../../config/errors.ts';
import { loadDeviceConfig } from '../../config/load.ts';
import { partsSettingsSchema } from '../../config/parts.ts';
import { ArtifactError, loadProductArtifact, writeProductArtifact } from '../../product/artifact.ts';
import { ImageReadError, readImage } from '../../product/image-io.ts';
import { PayloadError, parsePayload, rejectInputSchema } from '../../runtime/mqtt/payloads.ts';
import { PartLine } from '../../runtime/parts/part-line.ts';
import { countersResetPayloadSchema } from '../../runtime/parts/payloads.ts';
import { TINY_BANK, tinyManifestDraft } from '../helpers/manifest-draft.ts';
import { runs, STACK_TRACE } from './budget.ts';

const dir = t.testdir();
const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

/** Runs `body`; a throw must be an instance of `errorClass` with a clean message. Returns 'ok' or 'refused'. */
async function acceptOrRefuse(errorClass: new (...args: never[]) => Error, body: () => Promise<unknown> | unknown, timeoutMs = 10_000): Promise<'ok' | 'refused'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no outcome within ${timeoutMs} ms (a hang)`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(body), hang]);
    return 'ok';
  } catch (err) {
    if (!(err instanceof errorClass)) throw new Error(`expected ${errorClass.name} or success, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    if (!err.message || STACK_TRACE.test(err.message)) throw new Error(`unclear ${errorClass.name}: ${err.message}`);
    return 'refused';
  } finally {
    clearTimeout(timer);
  }
}

/** Flips, deletes or inserts a few bytes, or truncates (pure given the choices). */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('flip' as const), edits: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
);
type Mutation = { kind: 'truncate'; at: number } | { kind: 'flip'; edits: [number, number][] } | { kind: 'insert'; at: number; bytes: Uint8Array };
function mutate(bytes: Uint8Array, m: Mutation): Buffer {
  const out = Buffer.from(bytes);
  if (m.kind === 'truncate') return out.subarray(0, Math.floor(m.at * out.length));
  if (m.kind === 'flip') {
    for (const [at, value] of m.edits) out[Math.min(out.length - 1, Math.floor(at * out.length))] = value;
    return out;
  }
  const at = Math.floor(m.at * out.length);
  return Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
}

const VALID_CONFIG = {
  dataDir: '/var/lib/linesight',
  mqtt: { deviceId: 'line9', url: 'mqtt://127.0.0.1:1883' },
  http: { port: 8080 },
  cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:8554/line', product: 'washer' }],
};

t.test('config loader: random and mutated YAML/JSON load or end in a ConfigError', async (t) => {
  let tried = 0;
  const outcomes = { ok: 0, refused: 0 };
  const file = (ext: string) => join(dir, `config-${tried}.${ext}`);
  const mutatedValue = fc.jsonValue({ maxDepth: 3 }).chain((noise) =>
    fc.constantFrom('dataDir', 'mqtt', 'mqtt.deviceId', 'mqtt.url', 'http', 'http.port', 'cameras', 'cameras.0', 'cameras.0.url', 'enroll', 'enroll.keepVersions', 'parts', 'extra').map((path) => {
      const config = structuredClone(VALID_CONFIG) as Record<string, unknown>;
      const keys = path.split('.');
      let node = config as Record<string, unknown>;
      for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
      node[keys.at(-1)!] = noise;
      return config;
    }),
  );
  const text = fc.oneof(
    mutatedValue.map((v) => ({ ext: 'yaml', text: toYaml(v) })),
    mutatedValue.map((v) => ({ ext: 'json', text: JSON.stringify(v) })),
    fc.tuple(mutation, fc.constantFrom('yaml', 'json')).map(([m, ext]) => ({ ext, text: mutate(Buffer.from(ext === 'json' ? JSON.stringify(VALID_CONFIG) : toYaml(VALID_CONFIG)), m).toString('utf8') })),
    fc.string({ maxLength: 200 }).map((s) => ({ ext: 'yaml', text: s })),
    fc.constantFrom('a: &a [*a, *a]', 'x: !!binary "%%"', '- 1\n- 2', '"', 'cameras: *nope', '\u0000', 'mqtt: {deviceId: "a/b#"}').map((s) => ({ ext: 'yaml', text: s })),
  );
  await fc.assert(
    fc.asyncProperty(text, async (c) => {
      tried++;
      const path = file(c.ext);
      await writeFile(path, c.text);
      const outcome = await acceptOrRefuse(ConfigError, () => loadDeviceConfig(path, {}));
      outcomes[outcome]++;
      await rm(path);
    }),
    { numRuns: runs(300, 3000), seed, endOnFailure: true },
  );
  const refusal = await loadDeviceConfig(file('yaml'), {}).catch((e: Error) => e);
  t.match(String(refusal), /ConfigError: cannot read config file/);
  await writeFile(file('yaml'), toYaml({ ...VALID_CONFIG, http: { port: 'eighty' } }));
  await t.rejects(loadDeviceConfig(file('yaml'), {}), { name: 'ConfigError', message: /http\.port/ }, 'a refusal names the key');
  t.comment(`config loader: ${tried} inputs tried, ${outcomes.ok} loaded, ${outcomes.refused} refused with ConfigError, 0 crashes`);
});

t.test('MQTT trigger and command payloads: parsed or refused with a reason, never a throw', async (t) => {
  let tried = 0;
  const parts = partsSettingsSchema.parse({ mode: 'trigger' });
  const line = new PartLine([{ camera: 'cam1', product: 'washer', settings: parts }]);
  const payload = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ partId: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.constant(null)), delayMs: fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.double(), fc.string()) }, { requiredKeys: [] }),
    fc.uint8Array({ maxLength: 64 }).map((b) => {
      try {
        return JSON.parse(Buffer.from(b).toString('utf8')) as unknown;
      } catch {
        return Buffer.from(b).toString('latin1');
      }
    }),
  );
  let now = 1_700_000_000_000;
  await fc.assert(
    fc.property(payload, fc.constantFrom('cam1', 'cam2', '', '#', 'cam1/x'), fc.integer({ min: -3_600_000, max: 3_600_000 }), (p, camera, jump) => {
      tried++;
      now += jump; // clock jumps back and forward
      const result = line.trigger(camera, p, now);
      if (!result.ok && (!result.message || STACK_TRACE.test(result.message))) throw new Error(`unclear trigger refusal: ${JSON.stringify(result)}`);
      line.tracker('cam1')!.tick(now);
      for (const [schema, what] of [[countersResetPayloadSchema, 'counters reset payload'], [rejectInputSchema, 'reject payload']] as const) {
        try {
          parsePayload(schema, p, what);
        } catch (err) {
          if (!(err instanceof PayloadError) || !err.message.startsWith(what)) throw err;
        }
      }
    }),
    { numRuns: runs(2000, 20000), seed, endOnFailure: true },
  );
  t.match(line.trigger('cam1', { partId: 'a/b' }, now), { ok: false, error: 'invalid_trigger', message: /partId/ });
  t.comment(`MQTT payloads: ${tried} inputs tried (trigger, counters reset, reject), 0 throws`);
});

t.test('image decoder: random, mutated and truncated PNG/JPEG end in an image or ImageReadError', async (t) => {
  const rgb = Buffer.from(Array.from({ length: 24 * 16 * 3 }, (_, i) => (i * 37) % 256));
  const png = await sharp(rgb, { raw: { width: 24, height: 16, channels: 3 } }).png().toBuffer();
  const jpeg = await sharp(rgb, { raw: { width: 24, height: 16, channels: 3 } }).jpeg().toBuffer();
  let tried = 0;
  const outcomes = { ok: 0, refused: 0 };
  const bytes = fc.oneof(
    fc.tuple(fc.constantFrom(png, jpeg), mutation).map(([b, m]) => mutate(b, m)),
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.concat([png.subarray(0, 33), Buffer.from(b)])),
  );
  await fc.assert(
    fc.asyncProperty(bytes, async (b) => {
      tried++;
      const path = join(dir, `image-${tried}.png`);
      await writeFile(path, b);
      outcomes[await acceptOrRefuse(ImageReadError, () => readImage(path, { width: 8, height: 8 }))]++;
      await rm(path);
    }),
    { numRuns: runs(300, 3000), seed, endOnFailure: true },
  );
  t.ok(outcomes.refused > 0, 'broken images were refused');
  t.comment(`image decoder: ${tried} inputs tried, ${outcomes.ok} decoded, ${outcomes.refused} refused with ImageReadError, 0 crashes, 0 hangs`);
});

t.test('artifact loader: mutated manifests and truncated tensor files end in ArtifactError', async (t) => {
  const source = join(dir, 'artifact-source');
  const { dir: versionDir } = await writeProductArtifact(source, tinyManifestDraft(), TINY_BANK);
  const manifest = await readFile(join(versionDir, 'manifest.json'));
  const bank = await readFile(join(versionDir, 'memory-bank.safetensors'));
  const manifestObject = JSON.parse(manifest.toString('utf8')) as Record<string, unknown>;
  const target = join(dir, 'artifact-fuzz');
  const vdir = join(target, 'products', 'bracket', 'v1');
  await mkdir(vdir, { recursive: true });
  await writeFile(join(target, 'products', 'bracket', 'active'), 'v1\n');
  let tried = 0;
  const outcomes = { ok: 0, refused: 0 };
  const damage = fc.oneof(
    mutation.map((m) => ({ manifest: mutate(manifest, m), bank })),
    mutation.map((m) => ({ manifest, bank: mutate(bank, m) })),
    fc.tuple(fc.constantFrom(...Object.keys(manifestObject), 'files', 'extra'), fc.jsonValue({ maxDepth: 2 })).map(([key, value]) => ({ manifest: Buffer.from(JSON.stringify({ ...manifestObject, [key]: value })), bank })),
    fc.dictionary(fc.oneof(fc.constantFrom('../x', '/etc/passwd', '..', 'a/b', 'memory-bank.safetensors', ''), fc.string({ maxLength: 12 })), fc.oneof(fc.constant('a'.repeat(64)), fc.string())).map((files) => ({ manifest: Buffer.from(JSON.stringify({ ...manifestObject, files })), bank })),
  );
  await fc.assert(
    fc.asyncProperty(damage, async (d) => {
      tried++;
      await writeFile(join(vdir, 'manifest.json'), d.manifest);
      await writeFile(join(vdir, 'memory-bank.safetensors'), d.bank);
      outcomes[await acceptOrRefuse(ArtifactError, () => loadProductArtifact(target, 'bracket'))]++;
    }),
    { numRuns: runs(300, 3000), seed, endOnFailure: true },
  );
  await copyFile(join(versionDir, 'manifest.json'), join(vdir, 'manifest.json'));
  await writeFile(join(vdir, 'memory-bank.safetensors'), bank.subarray(0, bank.length - 3));
  await t.rejects(loadProductArtifact(target, 'bracket'), { name: 'ArtifactError', message: /memory-bank.safetensors is corrupt or was modified/ });
  t.ok(outcomes.refused > 0);
  t.comment(`artifact loader: ${tried} inputs tried, ${outcomes.ok} loaded, ${outcomes.refused} refused with ArtifactError, 0 crashes`);
});
