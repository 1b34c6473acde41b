import t from 'tap';
import { healthProblems, type DeviceHealth } from '../../runtime/health.ts';

const mqtt = (extra: Partial<DeviceHealth['mqtt']> = {}): DeviceHealth['mqtt'] => ({ state: 'online', pendingRejects: 0, sentRejects: 5, refusedRejects: 0, quarantinedRejects: 0, reconnects: 0, ...extra });

t.test('a healthy broker connection has no problems', async (t) => {
  t.same(healthProblems(mqtt(), []), []);
});

t.test('set-aside outbox entries are a problem a technician sees', async (t) => {
  t.same(healthProblems(mqtt({ quarantinedRejects: 2 }), []), ['2 unreadable reject(s) set aside as *.corrupt in the reject outbox and never sent']);
});

t.test('an offline broker names the pending rejects', async (t) => {
  t.same(healthProblems(mqtt({ state: 'offline', pendingRejects: 3, lastError: 'cannot reach broker' }), []), ['MQTT broker not connected (offline: cannot reach broker); 3 reject(s) kept on disk until it is back']);
});
