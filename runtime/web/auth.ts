/**
 * Who may use the web UI and its API. With `http.auth` set, a request needs
 * `Authorization: Bearer <token>`, HTTP basic credentials, or the session
 * cookie the login page sets; without it (the default, bound to 127.0.0.1)
 * everything is open. Secrets are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpAuthSettings } from '../../config/http.ts';

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

export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name) cookies[name] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return cookies;
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
  login(form: LoginForm): string | undefined {
    if (!this.accepts(form)) return undefined;
    const id = randomBytes(24).toString('hex');
    this.sessions.set(id, Date.now() + SESSION_HOURS * 3600_000);
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_HOURS * 3600}`;
  }

  logout(headers: IncomingHttpHeaders): string {
    const session = parseCookies(headers.cookie)[SESSION_COOKIE];
    if (session) this.sessions.delete(session);
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
