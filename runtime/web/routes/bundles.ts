/**
 * A product version as one bundle (product/bundle.ts) for the other devices
 * of the plant to fetch: read-only, behind the same sign-in as the rest of
 * the API (devices send the bearer token of fleet.fetchToken).
 */
import { ArtifactError } from '../../../product/artifact.ts';
import { readVersionBundle } from '../../../product/bundle.ts';
import { ApiError } from '../http-util.ts';
import { productParam, versionParam } from '../params.ts';
import type { Route } from '../router.ts';
import type { WebContext } from '../web-context.ts';

export const bundleRoutes: Route<WebContext>[] = [
  {
    method: 'GET',
    path: '/api/products/:product/versions/:version/bundle',
    access: 'api',
    async handle({ res, app, params }) {
      const product = productParam(params.product!);
      const version = versionParam(params.version);
      let bundle: Buffer;
      try {
        bundle = await readVersionBundle(app.config.dataDir, product, version);
      } catch (err) {
        if (err instanceof ArtifactError) throw new ApiError(404, `${product} ${version} cannot be served: ${err.message}`);
        throw err;
      }
      res.writeHead(200, {
        'content-type': 'application/vnd.linesight.bundle',
        'content-length': bundle.length,
        'content-disposition': `attachment; filename="${product}-${version}.lsbundle"`,
        'cache-control': 'no-store',
      });
      res.end(bundle);
    },
  },
];
