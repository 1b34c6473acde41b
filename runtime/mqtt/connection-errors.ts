/**
 * What technicians read about the MQTT connection: each socket, TLS and
 * CONNACK error turned into a fault kind and a sentence naming the config key
 * to check, and the sentences of every state change. Kept in one place so the
 * wording stays consistent (tests and dashboards match on it).
 */
import type { PublisherState } from './connection-state.ts';

/** What went wrong with the connection, for dashboards and alarms. */
export type ConnectionFault = 'auth' | 'refused' | 'tls' | 'network';

export interface ConnectionProblem {
  fault: ConnectionFault;
  /** A sentence for technicians. */
  reason: string;
}

export class PublisherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublisherError';
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the broker running and listening on that port?)',
  ECONNRESET: 'the broker closed the connection',
  ETIMEDOUT: 'no answer (timed out)',
  EHOSTUNREACH: 'host unreachable (check the network)',
  ENETUNREACH: 'network unreachable (check the network)',
  ENOTFOUND: 'host name not found (check the url and DNS)',
  EAI_AGAIN: 'host name lookup failed (check DNS)',
  EPIPE: 'the connection broke',
};

const TLS_CODES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the broker's certificate is not signed by a trusted CA (set mqtt.tls.ca to the CA that signed it)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the broker's certificate is not signed by a trusted CA (set mqtt.tls.ca to the CA that signed it)",
  SELF_SIGNED_CERT_IN_CHAIN: "the broker's certificate chain ends in an untrusted CA (set mqtt.tls.ca to that CA)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the broker's certificate is self-signed and not trusted (set mqtt.tls.ca to it)",
  CERT_HAS_EXPIRED: "the broker's certificate has expired",
  CERT_NOT_YET_VALID: "the broker's certificate is not valid yet (check the device clock)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the broker's certificate is not issued for this host name (use the name in the certificate in mqtt.url)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the broker requires a client certificate (set mqtt.tls.cert and mqtt.tls.key)',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the broker rejected the client certificate',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the broker does not trust the client certificate's CA",
};

/** Turns an mqtt.js / socket / TLS error into a fault kind and a sentence for technicians. */
export function describeConnectionError(err: Error & { code?: unknown }, url: string, username?: string): ConnectionProblem {
  const code = err.code;
  if (typeof code === 'number') {
    // CONNACK return codes of MQTT 3.1.1 (mqtt.js ErrorWithReasonCode).
    if (code === 4 || code === 5 || code === 134 || code === 135) {
      const who = username ? `user "${username}"` : 'an anonymous client';
      return {
        fault: 'auth',
        reason: `broker ${url} refused the login of ${who}: ${code === 4 || code === 134 ? 'bad user name or password' : 'not authorized'} (check mqtt.username, mqtt.password and the broker's accounts)`,
      };
    }
    return { fault: 'refused', reason: `broker ${url} refused the connection: ${err.message} (check mqtt.clientId and the broker's settings)` };
  }
  const text = `${typeof code === 'string' ? code : ''} ${err.message}`;
  if (/CERT|SSL|TLS|certificate|self.signed|handshake|alert/i.test(text)) {
    const known = typeof code === 'string' ? TLS_CODES[code] : undefined;
    // OpenSSL messages carry a long prefix; keep the readable tail ("tlsv13 alert certificate required").
    if (known) return { fault: 'tls', reason: `TLS with broker ${url} failed: ${known}` };
    const detail = /routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.message;
    return { fault: 'tls', reason: `TLS with broker ${url} failed: ${detail} (check mqtt.tls.ca, mqtt.tls.cert, mqtt.tls.key and that the url's host matches the broker certificate)` };
  }
  const known = typeof code === 'string' ? NETWORK_CODES[code] : undefined;
  return { fault: 'network', reason: `cannot reach broker ${url}: ${known ?? err.message}` };
}

/** The sentences of the state changes and of the publisher's own refusals. */
export const wording = {
  connecting: (url: string) => `connecting to broker ${url}`,
  reconnecting: (url: string) => `reconnecting to broker ${url}`,
  online: (url: string) => `connected to broker ${url}`,
  lost: (url: string) => `lost the connection to broker ${url}`,
  offline: (problem: ConnectionProblem, retryMs: number) => `${problem.reason}; retrying in ${(retryMs / 1000).toFixed(1)} s`,
  closing: 'closing the MQTT connection',
  closed: 'MQTT connection closed',
  alreadyStarted: 'MQTT publisher already started',
  notStarted: (what: string) => `cannot ${what}: the MQTT publisher is not started`,
  notRunning: (what: string, state: PublisherState) => `cannot ${what}: the MQTT publisher is ${state}`,
  stateTimeout: (wanted: PublisherState, timeoutMs: number, now: PublisherState, problem: ConnectionProblem | undefined) =>
    `MQTT publisher did not become ${wanted} within ${timeoutMs} ms (now ${now}${problem ? `: ${problem.reason}` : ''})`,
  rejectsLeftAtClose: (pending: number) => `closing with ${pending} reject(s) not yet acknowledged; they are sent at the next start`,
  rejectNotAcked: (err: Error) => `reject not acknowledged yet: ${err.message}`,
  badUrl: (url: string, err: Error) => `mqtt.url "${url}": ${err.message}`,
  noUrl: 'mqtt.url is not set and no embedded broker URL was given',
  unreadableTlsFile: (key: string, path: string, err: Error) => `mqtt.tls.${key}: cannot read "${path}" (${err.message})`,
};
