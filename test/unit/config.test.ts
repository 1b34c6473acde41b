import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDeviceConfig } from '../../config/load.ts';
import { ConfigError } from '../../config/errors.ts';

const dir = await mkdtemp(join(tmpdir(), 'linesight-config-'));
const file = async (name: string, text: string) => {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
};

t.test('defaults apply without a file', async (t) => {
  const c = await loadDeviceConfig(undefined, {});
  t.equal(c.dataDir, '.linesight');
  t.equal(c.enroll.backbone, 'mobilenet_v2');
  t.equal(c.enroll.coresetRatio, 0.1);
  t.same(c.inference.executionProviders, ['cpu']);
});

t.test('a YAML file overrides defaults and LINESIGHT_DATA_DIR wins', async (t) => {
  const p = await file('ok.yaml', 'dataDir: /srv/ls\nenroll:\n  coresetRatio: 0.01\n  aggregation: sppm\n');
  const c = await loadDeviceConfig(p, {});
  t.equal(c.dataDir, '/srv/ls');
  t.equal(c.enroll.coresetRatio, 0.01);
  t.equal(c.enroll.aggregation, 'sppm');
  t.equal((await loadDeviceConfig(p, { LINESIGHT_DATA_DIR: '/data' })).dataDir, '/data');
});

t.test('an unknown key is named with its full path', async (t) => {
  const p = await file('typo.yaml', 'enroll:\n  coresetRatoi: 0.01\n');
  await t.rejects(loadDeviceConfig(p, {}), { name: 'ConfigError', message: /typo\.yaml: unknown key "enroll\.coresetRatoi"/ });
  const top = await file('top.yaml', 'camras: []\n');
  await t.rejects(loadDeviceConfig(top, {}), /unknown key "camras"/);
});

t.test('F2PAD settings: defaults, overrides and a wrong nested key', async (t) => {
  const defaults = await loadDeviceConfig(undefined, {});
  t.equal(defaults.refine.f2pad.maxIterations, 12);
  t.equal(defaults.refine.f2pad.budgetMs, 800);
  const p = await file('f2pad.yaml', 'refine:\n  mode: f2pad\n  f2pad:\n    budgetMs: 300\n    sharing:\n      radius: 1\n');
  const c = await loadDeviceConfig(p, {});
  t.equal(c.refine.mode, 'f2pad');
  t.equal(c.refine.f2pad.budgetMs, 300);
  t.equal(c.refine.f2pad.sharing.radius, 1);
  t.equal(c.refine.f2pad.sharing.sigmaColour, 20, 'unset keys keep their defaults');
  const typo = await file('f2pad-typo.yaml', 'refine:\n  f2pad:\n    budgetMS: 300\n');
  await t.rejects(loadDeviceConfig(typo, {}), /unknown key "refine\.f2pad\.budgetMS"/);
  const bad = await file('f2pad-bad.yaml', 'refine:\n  f2pad:\n    tau: 300\n');
  await t.rejects(loadDeviceConfig(bad, {}), /refine\.f2pad\.tau/);
});

t.test('calibration and adaptation settings: defaults, overrides, wrong keys', async (t) => {
  const defaults = await loadDeviceConfig(undefined, {});
  t.equal(defaults.enroll.calibrate, 'cutswap');
  t.equal(defaults.enroll.targetFrr, 0.005);
  t.equal(defaults.enroll.adapt, 'none');
  t.equal(defaults.enroll.adaptation.epochs, 30);
  const p = await file('adapt.yaml', 'enroll:\n  adapt: cutpaste\n  calibrate: maxnormal\n  adaptation:\n    epochs: 5\n');
  const c = await loadDeviceConfig(p, {});
  t.equal(c.enroll.adapt, 'cutpaste');
  t.equal(c.enroll.calibrate, 'maxnormal');
  t.equal(c.enroll.adaptation.epochs, 5);
  t.equal(c.enroll.adaptation.negativesPerImage, 4, 'unset keys keep their defaults');
  await t.rejects(loadDeviceConfig(await file('cal.yaml', 'enroll:\n  calibrate: median\n'), {}), /enroll\.calibrate.*maxnormal.*f1synthetic.*cutswap/s);
  await t.rejects(loadDeviceConfig(await file('frr.yaml', 'enroll:\n  targetFrr: 5\n'), {}), /enroll\.targetFrr/);
  await t.rejects(loadDeviceConfig(await file('ep2.yaml', 'enroll:\n  adaptation:\n    epoch: 5\n'), {}), /unknown key "enroll\.adaptation\.epoch"/);
});

t.test('alignment and scorer settings: defaults, overrides, wrong keys', async (t) => {
  const defaults = await loadDeviceConfig(undefined, {});
  t.equal(defaults.enroll.align, 'none');
  t.equal(defaults.enroll.scorer, 'patchcore');
  t.equal(defaults.enroll.stn.rotation, 30);
  t.equal(defaults.enroll.stn.loss, 'image');
  const c = await loadDeviceConfig(await file('stn.yaml', 'enroll:\n  align: stn\n  scorer: padim\n  stn:\n    rotation: 180\n    loss: siamese\n'), {});
  t.equal(c.enroll.align, 'stn');
  t.equal(c.enroll.scorer, 'padim');
  t.equal(c.enroll.stn.rotation, 180);
  t.equal(c.enroll.stn.loss, 'siamese');
  t.equal(c.enroll.stn.translation, 0.15, 'unset keys keep their defaults');
  await t.rejects(loadDeviceConfig(await file('stn2.yaml', 'enroll:\n  stn:\n    rotaton: 30\n'), {}), /unknown key "enroll\.stn\.rotaton"/);
  await t.rejects(loadDeviceConfig(await file('stn3.yaml', 'enroll:\n  stn:\n    rotation: 400\n'), {}), /enroll\.stn\.rotation.*180/);
  await t.rejects(loadDeviceConfig(await file('al.yaml', 'enroll:\n  align: yes\n'), {}), /enroll\.align/);
});

t.test('an invalid value names the key and the rule', async (t) => {
  const p = await file('bad.yaml', 'enroll:\n  coresetRatio: 2\n');
  const err = await loadDeviceConfig(p, {}).catch((e) => e);
  t.ok(err instanceof ConfigError);
  t.match(err.message, /key "enroll\.coresetRatio"/);
  t.match(err.message, /1/);
  const ep = await file('ep.yaml', 'inference:\n  executionProviders: [gpu]\n');
  await t.rejects(loadDeviceConfig(ep, {}), /key "inference\.executionProviders\[0\]"/);
});

t.test('unreadable and malformed files are reported as such', async (t) => {
  await t.rejects(loadDeviceConfig(join(dir, 'missing.yaml'), {}), /cannot read config file .*missing\.yaml: ENOENT/);
  const p = await file('broken.yaml', 'enroll: [\n');
  await t.rejects(loadDeviceConfig(p, {}), /not valid YAML/);
  const j = await file('broken.json', '{"enroll": ');
  await t.rejects(loadDeviceConfig(j, {}), /not valid JSON/);
  const list = await file('list.yaml', '- a\n- b\n');
  await t.rejects(loadDeviceConfig(list, {}), /top level must be a mapping/);
});
