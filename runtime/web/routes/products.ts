/**
 * Products routes: products with their active version, a product's versions
 * with metrics and roll-back hint, a version's contact sheets, and activate
 * or roll back (the runtime's product library hot-swaps on its next poll).
 */
import { join } from 'node:path';
import { ArtifactError, productDir } from '../../../product/artifact.ts';
import { activateProductVersion, listProductSummaries, listProductVersions, ProductVersionError, rollbackProduct, versionAttachments } from '../../../product/versions.ts';
import { ApiError, readJson, sendJson } from '../http-util.ts';
import { productParam, versionParam } from '../params.ts';
import { rollbackHint, servableAttachment } from '../product-actions.ts';
import type { Route } from '../router.ts';
import { safeFileName, serveFile } from '../static-files.ts';
import type { WebContext } from '../web-context.ts';

async function productList(app: WebContext) {
  const { device } = app;
  const summaries = await listProductSummaries(app.config.dataDir);
  const configured = [...new Set(device.cameras.map((x) => x.product))];
  const all = [...new Set([...configured, ...summaries.map((s) => s.product)])].sort();
  return {
    products: all.map((product) => ({
      product,
      active: summaries.find((s) => s.product === product)?.active ?? null,
      versions: summaries.find((s) => s.product === product)?.versions ?? 0,
      cameras: device.cameras.filter((x) => x.product === product).map((x) => x.id),
    })),
  };
}

async function versions(app: WebContext, product: string) {
  const list = await listProductVersions(app.config.dataDir, product);
  const rollback = rollbackHint(list);
  return { product, versions: list, rollback: 'version' in rollback ? rollback.version : null, rollbackBlocked: 'reason' in rollback ? rollback.reason : null };
}

/** Activates (or rolls back) and answers with the versions after the change. */
async function switchVersion(app: WebContext, product: string, action: () => Promise<{ to: string }>, what: string) {
  let to: string;
  try {
    ({ to } = await action());
  } catch (err) {
    if (err instanceof ArtifactError) throw new ApiError(422, `${what} failed: ${err.message}. The active version was not changed.`);
    if (err instanceof ProductVersionError) throw new ApiError(409, err.message);
    throw err;
  }
  app.log?.info({ product, version: to }, `product ${product}: ${to} activated from the web UI`);
  return { ...(await versions(app, product)), activated: to };
}

export const productRoutes: Route<WebContext>[] = [
  { method: 'GET', path: '/api/products', access: 'api', handle: async ({ res, app }) => sendJson(res, 200, await productList(app)) },
  {
    method: 'GET',
    path: '/api/products/:product/versions',
    access: 'api',
    handle: async ({ res, app, params }) => sendJson(res, 200, await versions(app, productParam(params.product!))),
  },
  {
    method: 'GET',
    path: '/api/products/:product/versions/:version/files/:name',
    access: 'api',
    async handle({ res, app, params }) {
      const product = productParam(params.product!);
      const version = versionParam(params.version);
      const attachments = await versionAttachments(app.config.dataDir, product, version);
      const name = safeFileName(params.name!);
      if (!name || !servableAttachment(attachments && { attachments }, name) || !(await serveFile(res, join(productDir(app.config.dataDir, product), version), name, 'max-age=3600'))) {
        throw new ApiError(404, `${product} ${version} has no attachment "${params.name}"`);
      }
    },
  },
  {
    method: 'POST',
    path: '/api/products/:product/activate',
    body: 'json',
    access: 'api',
    async handle({ req, res, app, params }) {
      const product = productParam(params.product!);
      const version = versionParam((await readJson(req)).version);
      sendJson(res, 200, await switchVersion(app, product, () => activateProductVersion(app.config.dataDir, product, version), `activating ${version}`));
    },
  },
  {
    method: 'POST',
    path: '/api/products/:product/rollback',
    body: 'json',
    access: 'api',
    async handle({ res, app, params }) {
      const product = productParam(params.product!);
      sendJson(res, 200, await switchVersion(app, product, () => rollbackProduct(app.config.dataDir, product), 'the roll back'));
    },
  },
];
