/**
 * What the web UI checks before it reads a request, so that a page on
 * another site cannot use the technician's browser against the device:
 *
 * - DNS rebinding: a request whose `Host` is not a name the device is served
 *   as is refused (a rebinding page reaches the device under its own name).
 * - Cross-site requests: a state-changing request (POST, PUT, DELETE) must
 *   come from the device's own origin (`Origin`, or `Referer` without it) and
 *   carry the body type its route reads (`application/json`, an image type,
 *   or the login form), which a cross-site form cannot send. A request with
 *   `Authorization: Bearer` is a program's: browsers never attach one on
 *   their own, so it cannot be forged by another site and skips these checks.
 *   Basic credentials do not skip them: browsers resend those by themselves.
 *
 * Pure functions over header values; web-app.ts applies them.
 */
import { isIP } from 'node:net';

/** The host name of a `Host` header, lower case, without port or IPv6 brackets; undefined when malformed. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const h = host.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (bracketed) return bracketed[1];
  const plain = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  return plain?.[1]?.replace(/\.$/, '');
}

/** Loopback names and addresses: a rebinding attacker's name is never one of these. */
export function isLoopbackName(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost') || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/**
 * The host names the device answers to when bound to `bindHost` and no list
 * is configured: bound to loopback, only loopback names; bound elsewhere, the
 * bind address, the machine's host name (and its mDNS `.local` name) and,
 * bound to every interface, the interfaces' addresses. Loopback names are
 * always included. `extra` (the `allowedHosts` option) adds names; an entry
 * starting with a dot allows that domain's subdomains (".plant.example").
 */
export function allowedHostNames(opts: { bindHost: string; machineName: string; interfaceAddresses: string[]; extra?: string[] }): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  const bind = opts.bindHost.toLowerCase();
  if (!isLoopbackName(bind)) {
    if (!WILDCARD.has(bind)) names.add(bind);
    if (opts.machineName) {
      names.add(opts.machineName.toLowerCase());
      if (!opts.machineName.includes('.')) names.add(`${opts.machineName.toLowerCase()}.local`);
    }
    if (WILDCARD.has(bind)) for (const a of opts.interfaceAddresses) names.add(a.toLowerCase().replace(/%.*$/, ''));
  }
  for (const e of opts.extra ?? []) {
    const name = e.startsWith('.') ? e.toLowerCase() : hostName(e);
    if (name) names.add(name);
  }
  return [...names];
}

/** Why a request with this `Host` header is refused, or undefined when the device is served under that name. */
export function hostProblem(host: string | undefined, allowed: string[]): string | undefined {
  const name = hostName(host);
  if (name === undefined) return host ? `the Host header "${host}" is not a host name` : 'the request has no Host header';
  if (isLoopbackName(name) || allowed.includes(name)) return undefined;
  if (allowed.some((a) => a.startsWith('.') && name.endsWith(a))) return undefined;
  return `linesight is not served as "${name}" (add it to http.allowedHosts if the device is reached under that name)`;
}

/** The body a route reads: none (not read), a JSON object, an image file as it is, or the login form. */
export type BodyKind = 'none' | 'json' | 'image' | 'form';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface CrossSiteRequest {
  method: string;
  /** `Host` header, already checked by hostProblem. */
  host: string | undefined;
  tls: boolean;
  /** `X-Forwarded-Proto` of a TLS-terminating proxy in front: its pages are https. */
  forwardedProto?: string | undefined;
  origin: string | undefined;
  referer: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  /** The request declares a body (content-length > 0 or chunked). */
  hasBody: boolean;
  body: BodyKind;
}

/** The origin of a URL (`https://device:8443`), or undefined when it is not a URL. */
function originOf(url: string): string | undefined {
  try {
    const o = new URL(url).origin;
    return o === 'null' ? undefined : o;
  } catch {
    return undefined;
  }
}

/** Why the request's source is not the device's own origin, or undefined. Requests without Origin and Referer are programs', not a browser's. */
export function originProblem(r: Pick<CrossSiteRequest, 'host' | 'tls' | 'forwardedProto' | 'origin' | 'referer'>): string | undefined {
  // A browser cannot add X-Forwarded-Proto to a forged request, so trusting it only widens the own origin to https.
  const https = r.tls || r.forwardedProto?.trim().toLowerCase() === 'https';
  const own = `${https ? 'https' : 'http'}://${(r.host ?? '').toLowerCase()}`;
  if (r.origin !== undefined) {
    return r.origin.toLowerCase() === own ? undefined : `requests from ${r.origin} may not change the device (only pages of ${own} may)`;
  }
  if (r.referer !== undefined) {
    const from = originOf(r.referer);
    return from?.toLowerCase() === own ? undefined : `requests from pages outside ${own} may not change the device`;
  }
  return undefined;
}

/** Why the body's declared type is not the one the route reads, or undefined. An empty body may leave the type out. */
export function contentTypeProblem(kind: BodyKind, contentType: string | undefined, hasBody: boolean): string | undefined {
  if (kind === 'none') return undefined;
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === undefined || type === '') return hasBody ? `send the body with Content-Type: ${expectedType(kind)}` : undefined;
  const fits =
    (kind === 'json' && type === 'application/json') ||
    (kind === 'image' && (type.startsWith('image/') || type === 'application/octet-stream')) ||
    (kind === 'form' && type === 'application/x-www-form-urlencoded');
  return fits ? undefined : `a body of type ${type} is not accepted here; send Content-Type: ${expectedType(kind)}`;
}

function expectedType(kind: BodyKind): string {
  if (kind === 'image') return 'image/<type> or application/octet-stream (the image file as it is)';
  if (kind === 'form') return 'application/x-www-form-urlencoded';
  return 'application/json';
}

/** Why a state-changing request may have been forged by another site, or undefined when it may go on. */
export function crossSiteProblem(r: CrossSiteRequest): string | undefined {
  if (SAFE_METHODS.has(r.method)) return undefined;
  if (/^Bearer\s/i.test(r.authorization ?? '')) return undefined;
  return originProblem(r) ?? contentTypeProblem(r.body, r.contentType, r.hasBody);
}

/**
 * Headers on every response: no framing, no type sniffing, no referrer to
 * other sites, and a policy under which only the device's own scripts,
 * styles and images run (the UI has no inline script or style attribute).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};
