/** Enroll settings on the command line: flags built from the schema, values merged and checked by flag name. */
import t from 'tap';
import { Command } from 'commander';
import { CALIBRATION_METHODS, ENROLL_SETTING_FLAGS, enrollSettingsSchema } from '../../config/enroll.ts';
import { addEnrollSettingFlags, enrollSettingsFromFlags, flagValue, flagValueKind } from '../../cli/setting-flags.ts';

const defaults = enrollSettingsSchema.parse({});

t.test('every flag names an enroll setting; its kind comes from the schema', async (t) => {
  for (const entry of ENROLL_SETTING_FLAGS) t.doesNotThrow(() => flagValueKind(entry.setting), entry.flag);
  t.same(flagValueKind(['coresetRatio']), { kind: 'number' });
  t.same(flagValueKind(['layers']), { kind: 'list' });
  t.same(flagValueKind(['backbone']), { kind: 'text' });
  t.same(flagValueKind(['calibrate']), { kind: 'choice', options: [...CALIBRATION_METHODS] });
  t.same(flagValueKind(['stn', 'loss']), { kind: 'choice', options: ['image', 'siamese'] });
  t.throws(() => flagValueKind(['contactSheet']), /no command-line form/, 'a boolean setting has no flag form');
});

t.test('flag text becomes the setting value', async (t) => {
  t.equal(flagValue({ kind: 'number' }, '0.25'), 0.25);
  t.same(flagValue({ kind: 'list' }, ' layer2, ,layer3 '), ['layer2', 'layer3']);
  t.equal(flagValue({ kind: 'text' }, 'resnet18'), 'resnet18');
});

t.test('the options: choices for sets of values, except --align (eval takes a list)', async (t) => {
  const cmd = addEnrollSettingFlags(new Command('enroll'));
  const option = (long: string) => cmd.options.find((o) => o.long === long);
  t.same(option('--calibrate')?.argChoices, [...CALIBRATION_METHODS]);
  t.same(option('--stn-loss')?.argChoices, ['image', 'siamese']);
  t.equal(option('--align')?.argChoices, undefined);
  t.equal(option('--coreset')?.argChoices, undefined);
  t.equal(cmd.options.length, ENROLL_SETTING_FLAGS.length);
});

t.test('flags lay over the config file settings; unset ones keep them', async (t) => {
  const base = { ...defaults, sigma: 2, stn: { ...defaults.stn, rotation: 90 } };
  const s = enrollSettingsFromFlags(base, { coreset: '0.25', layers: 'a,b', stnSteps: '40', calibrate: 'maxnormal', unrelated: 'x' });
  t.equal(s.coresetRatio, 0.25);
  t.same(s.layers, ['a', 'b']);
  t.equal(s.stn.steps, 40);
  t.equal(s.stn.rotation, 90, 'the other transformer settings stay');
  t.equal(s.sigma, 2);
  t.equal(s.calibrate, 'maxnormal');
  t.equal(base.stn.steps, defaults.stn.steps, 'the config file settings are not changed');
});

t.test('an invalid value is reported by its flag', async (t) => {
  t.throws(() => enrollSettingsFromFlags(defaults, { coreset: '3' }), { name: 'ConfigError', message: /^settings: --coreset: .*1/ });
  t.throws(() => enrollSettingsFromFlags(defaults, { stnRotation: '400', inputSize: '7' }), { message: /--input-size: .*32; --stn-rotation: .*180/ });
  t.throws(() => enrollSettingsFromFlags(defaults, { align: 'sift' }), { message: /--align: .*"none"\|"stn"/ });
  t.throws(() => enrollSettingsFromFlags(defaults, { stnSteps: 'x' }), { message: /--stn-steps: .*NaN/ });
});
