/**
 * The broker connection's state machine, as one pure function so every
 * transition is named and testable without a broker:
 *
 *   closed     --start-->      connecting
 *   connecting --connack-->    online
 *   offline    --connack-->    online      (mqtt.js reconnected on its own)
 *   connecting --lost-->       offline     (connection lost, refused, TLS failure)
 *   online     --lost-->       offline
 *   offline    --reconnect-->  connecting  (mqtt.js makes a new attempt)
 *   connecting, online, offline --close--> closing
 *   closing    --closed-->     closed
 *
 * Anything else leaves the state as it is (e.g. a CONNACK arriving while the
 * publisher is closing does not make it online again).
 */

export type PublisherState = 'connecting' | 'online' | 'offline' | 'closing' | 'closed';

export type ConnectionEvent = 'start' | 'connack' | 'lost' | 'reconnect' | 'close' | 'closed';

const TRANSITIONS: Record<PublisherState, Partial<Record<ConnectionEvent, PublisherState>>> = {
  closed: { start: 'connecting' },
  connecting: { connack: 'online', lost: 'offline', close: 'closing' },
  online: { lost: 'offline', close: 'closing' },
  offline: { connack: 'online', reconnect: 'connecting', close: 'closing' },
  closing: { closed: 'closed' },
};

/** The state after `event`, or undefined when the event does not change the state. */
export function nextState(state: PublisherState, event: ConnectionEvent): PublisherState | undefined {
  return TRANSITIONS[state][event];
}

/** Closing or closed: the publisher is going away and accepts no new connection. */
export function shuttingDown(state: PublisherState): boolean {
  return state === 'closing' || state === 'closed';
}
