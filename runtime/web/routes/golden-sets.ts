/**
 * Golden-sample set routes: list a product's sets, start a new one (only
 * for a product the device knows, see requireKnownProduct), and upload one
 * image into a set as its raw bytes. Uploads are checked a few at a time:
 * decoding is the costly part, and a burst of them must not exhaust memory.
 */
import { createGoldenSet, imageFiles, goldenSetDir, listGoldenSets, saveUpload } from '../golden-sets.ts';
import { ApiError, readBody, sendJson } from '../http-util.ts';
import { decodeParam, productParam } from '../params.ts';
import type { Route } from '../router.ts';
import { requireKnownProduct, type WebContext } from '../web-context.ts';

/** Largest uploaded image file. */
const UPLOAD_LIMIT = 32 * 1024 * 1024;

export const goldenSetRoutes: Route<WebContext>[] = [
  {
    method: 'GET',
    path: '/api/products/:product/golden',
    access: 'api',
    async handle({ res, app, params }) {
      const product = productParam(params.product!);
      sendJson(res, 200, { product, sets: await listGoldenSets(app.config.dataDir, product) });
    },
  },
  {
    method: 'POST',
    path: '/api/products/:product/golden',
    body: 'json',
    access: 'api',
    async handle({ res, app, params }) {
      const product = productParam(params.product!);
      await requireKnownProduct(app, product);
      sendJson(res, 201, { product, ...(await createGoldenSet(app.config.dataDir, product)) });
    },
  },
  {
    method: 'PUT',
    path: '/api/products/:product/golden/:set/:file',
    body: 'image',
    access: 'api',
    async handle({ req, res, app, params }) {
      const product = productParam(params.product!);
      const set = params.set!;
      const dir = goldenSetDir(app.config.dataDir, product, set);
      const name = decodeParam(params.file!, 'file name');
      const release = app.uploads.take();
      if (!release) throw new ApiError(503, `${app.uploads.size} uploads are being checked; send the images one after another`, { 'retry-after': '1' });
      try {
        if ((await listGoldenSets(app.config.dataDir, product)).every((s) => s.set !== set)) throw new ApiError(404, `there is no golden-sample set ${set} of ${product}; create one first`);
        const saved = await saveUpload(app.config.dataDir, product, set, name, await readBody(req, UPLOAD_LIMIT));
        sendJson(res, 201, { product, set, ...saved, images: (await imageFiles(dir)).length });
      } finally {
        release();
      }
    },
  },
];
