import t from 'tap';
import { nextState, shuttingDown, type ConnectionEvent, type PublisherState } from '../../runtime/mqtt/connection-state.ts';

const run = (events: ConnectionEvent[], from: PublisherState = 'closed'): PublisherState[] => {
  const seen: PublisherState[] = [from];
  let state = from;
  for (const e of events) {
    state = nextState(state, e) ?? state;
    seen.push(state);
  }
  return seen;
};

t.test('a connection that drops and comes back', async (t) => {
  t.same(run(['start', 'connack', 'lost', 'reconnect', 'lost', 'reconnect', 'connack', 'close', 'closed']), [
    'closed',
    'connecting',
    'online',
    'offline',
    'connecting',
    'offline',
    'connecting',
    'online',
    'closing',
    'closed',
  ]);
});

t.test('events that do not apply change nothing', async (t) => {
  t.equal(nextState('offline', 'lost'), undefined, 'a second failure while offline is not a new state');
  t.equal(nextState('online', 'reconnect'), undefined);
  t.equal(nextState('closing', 'connack'), undefined, 'a CONNACK while closing does not bring it back online');
  t.equal(nextState('closing', 'lost'), undefined);
  t.equal(nextState('closed', 'connack'), undefined);
  t.equal(nextState('online', 'start'), undefined, 'started twice');
  t.equal(nextState('offline', 'connack'), 'online', 'mqtt.js may reconnect without a reconnect event first');
});

t.test('closing from every live state', async (t) => {
  for (const s of ['connecting', 'online', 'offline'] as const) t.equal(nextState(s, 'close'), 'closing', s);
  t.same(['connecting', 'online', 'offline', 'closing', 'closed'].map((s) => shuttingDown(s as PublisherState)), [false, false, false, true, true]);
});
