/**
 * The backbone arithmetic of an enrollment: `auto` by default, made concrete
 * from the backbone (int8 for the nsfwjs backbones, float32 for the others),
 * an explicit choice kept as asked, and products enrolled before int8
 * (no precision in their manifest) scored as float32.
 */
import t from 'tap';
import { enrollSettingsSchema } from '../../config/enroll.ts';
import { resolvePrecision } from '../../models/backbones/registry.ts';
import { manifestPrecision } from '../../product/manifest.ts';

t.test('the default precision is auto, resolved per backbone', async (t) => {
  const settings = enrollSettingsSchema.parse({});
  t.equal(settings.precision, 'auto');
  t.equal(resolvePrecision(settings.precision, settings.backbone), 'int8', 'the default backbone runs int8');
  t.equal(resolvePrecision('auto', 'mobilenet_v2'), 'int8', 'the default backbone, whose int8 accuracy was measured');
  for (const id of ['mobilenet_v2_mid', 'inception_v3', 'resnet18', 'wide_resnet50_2', 'onnx:/models/extractor.onnx']) t.equal(resolvePrecision('auto', id), 'float32', id);
});

t.test('an explicit precision is kept for every backbone', async (t) => {
  for (const id of ['mobilenet_v2', 'resnet18', 'onnx:/models/extractor.onnx']) {
    t.equal(resolvePrecision('float32', id), 'float32', id);
    t.equal(resolvePrecision('int8', id), 'int8', id);
  }
  t.equal(enrollSettingsSchema.parse({ precision: 'float32' }).precision, 'float32');
  t.throws(() => enrollSettingsSchema.parse({ precision: 'int4' }));
});

t.test('a manifest without precision is float32, one with a precision keeps it', async (t) => {
  t.equal(manifestPrecision({}), 'float32');
  t.equal(manifestPrecision({ precision: undefined }), 'float32');
  t.equal(manifestPrecision({ precision: 'int8' }), 'int8');
  t.equal(manifestPrecision({ precision: 'float32' }), 'float32');
});
