/**
 * Sign-in: the login page and form, sign-out, and the access check of every
 * other route. Failed sign-ins (the form, or wrong credentials in an
 * Authorization header) are counted per source address; past the limit the
 * address gets 429 with Retry-After. Refusals are logged with the source
 * address, never with what was tried.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, readBody, sendJson } from '../http-util.ts';
import type { Route, RouteAccess } from '../router.ts';
import { serveFile, UI_DIR } from '../static-files.ts';
import type { WebContext } from '../web-context.ts';

/** The client's address as the server sees it (no proxy headers are trusted). */
export function sourceAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Refuses (429) a sign-in attempt from an address that failed too often. */
function refuseWhileLimited(app: WebContext, source: string): void {
  const wait = app.logins.retryAfterSeconds(source);
  if (wait === 0) return;
  app.log?.warn({ source }, `web UI: a sign-in from ${source} was refused: too many failed sign-ins`);
  throw new ApiError(429, `too many failed sign-ins from ${source}; try again in ${wait} s`, { 'retry-after': String(wait) });
}

async function login(req: IncomingMessage, res: ServerResponse, app: WebContext): Promise<void> {
  const source = sourceAddress(req);
  refuseWhileLimited(app, source);
  const form = new URLSearchParams((await readBody(req, 16 * 1024)).toString('utf8'));
  const cookie = app.auth.login({ token: form.get('token') || undefined, username: form.get('username') || undefined, password: form.get('password') || undefined }, { secure: app.tls });
  if (!cookie) {
    app.logins.fail(source);
    app.log?.warn({ source }, `web UI: a sign-in from ${source} was refused`);
    res.writeHead(303, { location: '/login?failed=1' }).end();
    return;
  }
  app.logins.succeed(source);
  res.writeHead(303, { location: '/', 'set-cookie': cookie }).end();
}

export const authRoutes: Route<WebContext>[] = [
  {
    method: 'GET',
    path: '/login',
    access: 'open',
    async handle({ res }) {
      // The sign-in form posts to the device itself; with no-referrer, browsers would send that post as "Origin: null".
      res.setHeader('referrer-policy', 'same-origin');
      if (!(await serveFile(res, UI_DIR, 'login.html'))) throw new ApiError(404, 'no login page');
    },
  },
  { method: 'POST', path: '/login', body: 'form', access: 'open', handle: ({ req, res, app }) => login(req, res, app) },
  {
    method: 'POST',
    path: '/logout',
    access: 'open',
    handle({ req, res, app }) {
      res.writeHead(303, { location: '/login', 'set-cookie': app.auth.logout(req.headers, { secure: app.tls }) }).end();
    },
  },
];

/** Whether the request may use a route of `access`; when not, the answer (401, redirect or 429) has been sent. */
export function checkAccess(app: WebContext, req: IncomingMessage, res: ServerResponse, access: RouteAccess): boolean {
  if (access === 'open' || !app.auth.required) return true;
  const source = sourceAddress(req);
  const withCredentials = req.headers.authorization !== undefined;
  if (withCredentials) refuseWhileLimited(app, source);
  if (app.auth.allows(req.headers)) return true;
  if (withCredentials) {
    app.logins.fail(source);
    app.log?.warn({ source }, `web UI: credentials from ${source} were refused`);
  }
  if (access === 'page') res.writeHead(303, { location: '/login' }).end();
  else sendJson(res, 401, { error: 'sign in first: send Authorization: Bearer <http.auth.token>, basic credentials, or log in at /login' }, { 'www-authenticate': 'Bearer realm="linesight"' });
  return false;
}
