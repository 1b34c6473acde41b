/**
 * The UI's pages and files: `/` (the app, after sign-in) and `/ui/<file>`
 * (its scripts, styles and the sign-in page's assets, open to all).
 */
import { ApiError } from '../http-util.ts';
import type { Route } from '../router.ts';
import { safeFileName, serveFile, UI_DIR } from '../static-files.ts';
import type { WebContext } from '../web-context.ts';

export const pageRoutes: Route<WebContext>[] = [
  {
    method: 'GET',
    path: '/',
    access: 'page',
    async handle({ res }) {
      await serveFile(res, UI_DIR, 'index.html');
    },
  },
  {
    method: 'GET',
    path: '/ui/:file',
    access: 'open',
    async handle({ res, params }) {
      const name = safeFileName(params.file!);
      if (!name || !(await serveFile(res, UI_DIR, name))) throw new ApiError(404, `no such file: /ui/${params.file}`);
    },
  },
];
