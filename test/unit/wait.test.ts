import t from 'tap';
import { EventEmitter } from 'node:events';
import { waitFor, within } from '../../runtime/mqtt/wait.ts';

const numbers = (emitter: EventEmitter<{ n: [number] }>, accept: (n: number) => boolean) => (deliver: (n: number) => void) => {
  const on = (n: number) => {
    if (accept(n)) deliver(n);
  };
  emitter.on('n', on);
  return () => emitter.off('n', on);
};

t.test('waitFor resolves with the first accepted value and stops listening', async (t) => {
  const emitter = new EventEmitter<{ n: [number] }>();
  const waiting = waitFor(numbers(emitter, (n) => n > 2), 1000);
  emitter.emit('n', 1);
  emitter.emit('n', 3);
  emitter.emit('n', 4);
  t.equal(await waiting, 3);
  t.equal(emitter.listenerCount('n'), 0, 'the listener is gone');
});

t.test('waitFor resolves undefined after the timeout and stops listening', async (t) => {
  const emitter = new EventEmitter<{ n: [number] }>();
  const started = Date.now();
  t.equal(await waitFor(numbers(emitter, () => false), 30), undefined);
  t.ok(Date.now() - started >= 25, 'it waited for the timeout');
  t.equal(emitter.listenerCount('n'), 0);
});

t.test('waitFor accepts a value delivered while subscribing', async (t) => {
  let unsubscribed = 0;
  const value = await waitFor<string>((deliver) => {
    deliver('now');
    return () => unsubscribed++;
  }, 1000);
  t.equal(value, 'now');
  t.equal(unsubscribed, 1, 'unsubscribed once');
});

t.test('within gives the value, undefined on timeout, and passes rejections on', async (t) => {
  t.equal(await within(Promise.resolve(7), 1000), 7);
  t.equal(await within(new Promise<number>(() => {}), 20), undefined);
  await t.rejects(within(Promise.reject(new Error('boom')), 1000), /boom/);
});
