import t from 'tap';
import { decide, initialDecisionState, type DecisionSettings } from '../../runtime/decision.ts';
import type { Verdict } from '../../product/scorer.ts';

/** Feeds verdicts at 100 ms spacing; returns the frame indexes that fired a reject. */
function run(verdicts: string, settings: DecisionSettings): number[] {
  let state = initialDecisionState;
  const fired: number[] = [];
  [...verdicts].forEach((c, i) => {
    const verdict: Verdict = c === 'x' ? 'reject' : 'ok';
    const out = decide(state, verdict, 1000 + i * 100, settings);
    state = out.state;
    if (out.reject) fired.push(i);
  });
  return fired;
}

t.test('a bad part seen over several frames makes one reject, after the debounce', async (t) => {
  t.same(run('..xxxxx..', { debounceFrames: 2, cooldownMs: 0 }), [3]);
  t.same(run('..xxxxx..', { debounceFrames: 1, cooldownMs: 0 }), [2]);
  t.same(run('..xxxxx..', { debounceFrames: 5, cooldownMs: 0 }), [6]);
});

t.test('streaks shorter than the debounce never reject', async (t) => {
  t.same(run('x.x.xx.x', { debounceFrames: 3, cooldownMs: 0 }), []);
});

t.test('two bad parts separated by good frames make two rejects', async (t) => {
  t.same(run('.xxx...xxx.', { debounceFrames: 2, cooldownMs: 200 }), [2, 8]);
});

t.test('a score flickering around the threshold within the cooldown makes one reject', async (t) => {
  // frames 1-2 fire at 2 (t=1200); the streak at 4-5 ends inside the 500 ms cooldown.
  t.same(run('.xx.xx.', { debounceFrames: 2, cooldownMs: 500 }), [2]);
  // after the cooldown a new streak fires again (frame 9 at t=1900 >= 1200 + 500).
  t.same(run('.xx.xx..xx', { debounceFrames: 2, cooldownMs: 500 }), [2, 9]);
});

t.test('a defect that never leaves the view rejects once', async (t) => {
  t.same(run('xxxxxxxxxxxxxxxxxxxx', { debounceFrames: 2, cooldownMs: 100 }), [1]);
});

t.test('the decision state is not mutated', async (t) => {
  const before = { ...initialDecisionState };
  decide(initialDecisionState, 'reject', 1, { debounceFrames: 1, cooldownMs: 0 });
  t.same(initialDecisionState, before);
});
