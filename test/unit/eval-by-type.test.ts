/** Per-defect-type image numbers and their printed table, on hand-checkable scores; the threshold each mask stage starts from. */
import t from 'tap';
import { EVAL_STAGES, stageMask, type CategoryMetrics } from '../../eval/evaluate.ts';
import { byDefectType, meanByDefectType } from '../../eval/metrics.ts';
import { defectTypeTable } from '../../eval/report.ts';

t.test('byDefectType: each type against all good images, recall at the threshold', async (t) => {
  // good: 1, 2, 3, 4; scratch: 2.5 (beats 1 and 2 of 4 goods), 5 (beats all); stain: 0 (beats none).
  const scores = [1, 2, 3, 4, 2.5, 5, 0];
  const types = ['good', 'good', 'good', 'good', 'scratch', 'scratch', 'stain'];
  const out = byDefectType(scores, types, 4);
  t.same(Object.keys(out), ['scratch', 'stain'], 'good is not a defect type; types are sorted');
  t.same(out.scratch, { imageAUROC: (2 + 4) / 8, recall: 0.5, count: 2 });
  t.same(out.stain, { imageAUROC: 0, recall: 0, count: 1 });
});

t.test('byDefectType: ties with good images count one half, a score at the threshold is rejected', async (t) => {
  const out = byDefectType([3, 3, 3], ['good', 'blur', 'blur'], 3);
  t.same(out.blur, { imageAUROC: 0.5, recall: 1, count: 2 });
});

t.test('byDefectType: without good images the AUROC is undefined, recall still counts', async (t) => {
  const out = byDefectType([1, 5], ['cutpaste', 'cutpaste'], 2);
  t.ok(Number.isNaN(out.cutpaste!.imageAUROC));
  t.equal(out.cutpaste!.recall, 0.5);
  t.throws(() => byDefectType([1], ['good', 'blur'], 1), /1 scores for 2 types/);
});

t.test('meanByDefectType: mean over the categories that have the type, counts add up', async (t) => {
  const mean = meanByDefectType([
    { scratch: { imageAUROC: 0.6, recall: 0.2, count: 10 }, stain: { imageAUROC: 1, recall: 1, count: 5 } },
    { scratch: { imageAUROC: 0.8, recall: 0.4, count: 12 } },
  ]);
  t.same(Object.keys(mean), ['scratch', 'stain']);
  t.equal(mean.scratch!.imageAUROC.toFixed(6), '0.700000');
  t.equal(mean.scratch!.recall.toFixed(6), '0.300000');
  t.equal(mean.scratch!.count, 22);
  t.same(mean.stain, { imageAUROC: 1, recall: 1, count: 5 });
});

t.test('defectTypeTable: a row per category and the mean, a column per type, "-" where a type is missing', async (t) => {
  const metrics = (byType: CategoryMetrics['byType']) => ({ byType }) as CategoryMetrics;
  const lines = defectTypeTable({
    categories: {
      stone: metrics({ scratch: { imageAUROC: 0.6125, recall: 0.25, count: 4 }, stain: { imageAUROC: 1, recall: 1, count: 2 } }),
      coffee: metrics({ scratch: { imageAUROC: 0.9, recall: 0.5, count: 4 } }),
    },
    mean: metrics({ scratch: { imageAUROC: 0.75625, recall: 0.375, count: 8 }, stain: { imageAUROC: 1, recall: 1, count: 2 } }),
  });
  t.match(lines[0], /by defect type/);
  t.same(lines.slice(1), [
    'category       scratch          stain',
    'stone     0.613 / 25.0  1.000 / 100.0',
    'coffee    0.900 / 50.0              -',
    'mean      0.756 / 37.5  1.000 / 100.0',
  ]);
  t.same(defectTypeTable({ categories: { washer: metrics({}) }, mean: metrics({}) }), [], 'no defect types: nothing to print');
});

t.test('each mask stage starts from its threshold: the calibrated ones from the product, the others from the F1-optimal one', async (t) => {
  const calibrated = 0.7;
  const f1Optimal = 0.4;
  t.same(stageMask('calibrated', calibrated, f1Optimal), ['filter', 0.7]);
  t.same(stageMask('f2pad-calibrated', calibrated, f1Optimal), ['f2pad', 0.7], 'F2PAD as a device runs it');
  t.same(stageMask('f2pad', calibrated, f1Optimal), ['f2pad', 0.4], "F2PAD by the paper's protocol");
  t.same(stageMask('none', calibrated, f1Optimal), ['none', 0.4]);
  t.same(stageMask('threshold', calibrated, f1Optimal), ['threshold', 0.4]);
  t.ok(EVAL_STAGES.includes('f2pad-calibrated'), 'eval --refine accepts it');
});
