/**
 * Who may use the web UI and its API. With `http.auth` set, a request needs
 * `Authorization: Bearer <token>`, HTTP basic credentials, or the session
 * cookie the login page sets; without it (the default, bound to 127.0.0.1)
 * everything is open. Secrets are compared in constant time. The session
 * cookie is HttpOnly and SameSite=Strict, and Secure when the device serves
 * HTTPS.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpAuthSettings } from '../../config/http.ts';
import { ApiError } from './http-util.ts';

export const SESSION_COOKIE = 'linesight_session';
const SESSION_HOURS = 12;

export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m?.[1];
}

export function basicCredentials(authorization: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * The cookies of a Cookie header, values percent-decoded. Cookies are shared
 * by every service of a host name, so another service's value that is not
 * valid percent-encoding is kept as it is rather than refused; only the
 * session cookie, which is ours, makes such a request a bad one (400).
 */
export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!name) continue;
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      if (name === SESSION_COOKIE) throw new ApiError(400, `the ${SESSION_COOKIE} cookie is not valid percent-encoding; sign in again`);
      cookies[name] = value;
    }
  }
  return cookies;
}

function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** Equal secrets, compared in constant time (digests first, so lengths leak nothing). */
export function sameSecret(given: string | undefined, expected: string | undefined): boolean {
  if (given === undefined || expected === undefined) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export interface LoginForm {
  token?: string;
  username?: string;
  password?: string;
}

export class WebAuth {
  private readonly sessions = new Map<string, number>();

  constructor(private readonly settings: HttpAuthSettings | undefined) {}

  get required(): boolean {
    return this.settings?.token !== undefined || this.settings?.username !== undefined;
  }

  /** True when the credentials match the configured token or username and password. */
  accepts(form: LoginForm): boolean {
    const s = this.settings;
    if (!s) return false;
    if (s.token !== undefined && sameSecret(form.token, s.token)) return true;
    return s.username !== undefined && sameSecret(form.username, s.username) && sameSecret(form.password, s.password);
  }

  /** Whether the request may use the UI and API. */
  allows(headers: IncomingHttpHeaders): boolean {
    if (!this.required) return true;
    const authorization = headers.authorization;
    const token = bearerToken(authorization);
    if (token !== undefined) return this.accepts({ token });
    const basic = basicCredentials(authorization);
    if (basic) return this.accepts(basic);
    const session = parseCookies(headers.cookie)[SESSION_COOKIE];
    const expires = session ? this.sessions.get(session) : undefined;
    if (expires === undefined) return false;
    if (expires < Date.now()) {
      this.sessions.delete(session!);
      return false;
    }
    return true;
  }

  /** Starts a session for valid credentials; returns the Set-Cookie value, or undefined when they are wrong. */
  login(form: LoginForm, opts: { secure?: boolean } = {}): string | undefined {
    if (!this.accepts(form)) return undefined;
    const id = randomBytes(24).toString('hex');
    this.sessions.set(id, Date.now() + SESSION_HOURS * 3600_000);
    return sessionCookie(id, SESSION_HOURS * 3600, opts.secure ?? false);
  }

  logout(headers: IncomingHttpHeaders, opts: { secure?: boolean } = {}): string {
    const session = parseCookies(headers.cookie)[SESSION_COOKIE];
    if (session) this.sessions.delete(session);
    return sessionCookie('', 0, opts.secure ?? false);
  }
}
