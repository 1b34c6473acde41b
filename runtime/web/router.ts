/**
 * The web app's dispatch table: each route names its method, its path
 * pattern (`/api/products/:product/versions`), the body it reads (checked
 * against cross-site forgery before it runs) and who may call it. Path
 * parameters are passed as they are in the URL (still percent-encoded);
 * handlers decode and check them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BodyKind } from './request-guard.ts';

/** Who may call a route: anyone (UI files, sign-in), a signed-in page (else redirected to /login), a signed-in API client (else 401). */
export type RouteAccess = 'open' | 'page' | 'api';

export interface RouteCall<App> {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  app: App;
}

export interface Route<App> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: BodyKind;
  access: RouteAccess;
  handle(call: RouteCall<App>): Promise<void> | void;
}

/** Path segments of a URL path, empty ones dropped: `/api/products/` is ["api", "products"]. */
export function pathSegments(path: string): string[] {
  return path.split('/').filter(Boolean);
}

/** The route for a method and path, with its parameters; GET routes of pages and UI files answer HEAD as well. */
export function matchRoute<App>(routes: readonly Route<App>[], method: string, segments: string[]): { route: Route<App>; params: Record<string, string> } | undefined {
  const head = method === 'HEAD';
  for (const route of routes) {
    if (head ? route.method !== 'GET' || route.access === 'api' : route.method !== method) continue;
    const pattern = pathSegments(route.path);
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = pattern.every((p, i) => {
      if (p.startsWith(':')) {
        params[p.slice(1)] = segments[i]!;
        return true;
      }
      return p === segments[i];
    });
    if (fits) return { route, params };
  }
  return undefined;
}
