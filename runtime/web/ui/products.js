// Products: every product with its versions (metrics of each enrollment,
// contact sheets), Activate and Roll back.
import { byTestId, el, get, number, percent, post, showMessage } from './api.js';

export class ProductsPage {
  constructor(root) {
    this.root = root;
    this.product = null;
    byTestId('rollback', root).addEventListener('click', () => this.act(() => post(`/api/products/${this.product}/rollback`)));
  }

  shown() {
    this.load().catch((err) => this.error(err));
  }

  error(err) {
    showMessage(byTestId('products-error', this.root), err ? `${err.message}` : '');
  }

  async load() {
    const { products } = await get('/api/products');
    const body = this.root.querySelector('[data-testid="product-list"] tbody');
    body.replaceChildren(
      ...products.map((p) =>
        el(
          'tr',
          { class: p.product === this.product ? 'selected' : '', dataset: { testid: `product-${p.product}` } },
          el('td', {}, el('a', { href: '#products', onclick: (e) => (e.preventDefault(), this.select(p.product)) }, p.product)),
          el('td', {}, p.active ?? 'none'),
          el('td', {}, String(p.versions)),
          el('td', {}, p.cameras.join(', ') || '–'),
        ),
      ),
    );
    if (!this.product && products.length) this.product = products[0].product;
    if (this.product) await this.showVersions(await get(`/api/products/${this.product}/versions`));
  }

  select(product) {
    this.product = product;
    this.error(null);
    showMessage(byTestId('products-message', this.root), '');
    this.load().catch((err) => this.error(err));
  }

  async act(request) {
    this.error(null);
    showMessage(byTestId('products-message', this.root), '');
    try {
      const result = await request();
      await this.load();
      showMessage(byTestId('products-message', this.root), `${result.activated} is now active; cameras inspecting ${result.product} switch to it within seconds.`);
    } catch (err) {
      this.error(err);
    }
  }

  async showVersions({ product, versions, rollback, rollbackBlocked }) {
    byTestId('versions', this.root).hidden = false;
    byTestId('versions-product', this.root).textContent = product;
    byTestId('rollback', this.root).disabled = !rollback;
    byTestId('rollback-hint', this.root).textContent = rollback ? `(activates ${rollback})` : rollbackBlocked ?? '';
    const files = (v, name) => `/api/products/${product}/versions/${v.version}/files/${name}`;
    const body = this.root.querySelector('[data-testid="version-table"] tbody');
    body.replaceChildren(
      ...[...versions].reverse().map((v) =>
        el(
          'tr',
          { class: v.active ? 'active' : v.error ? 'damaged' : '', dataset: { testid: `version-${v.version}` } },
          el('td', {}, v.version, v.active ? el('span', { class: 'badge ok', dataset: { testid: 'active-badge' } }, 'active') : null),
          el('td', {}, v.createdAt ? new Date(v.createdAt).toLocaleString() : '–'),
          el('td', {}, String(v.goldenSamples ?? '–')),
          el('td', {}, number(v.imageThreshold)),
          el('td', {}, percent(v.calibration?.expectedFrr)),
          el('td', {}, percent(v.calibration?.expectedMiss, 1)),
          el('td', {}, v.alignment ? `SSIM ${number(v.alignment.ssim, 2)}, ${number(v.alignment.trainSeconds, 0)} s` : '–'),
          el('td', {}, v.error ? el('span', { class: 'warning' }, v.error) : `${v.scorer} · ${v.backbone}`),
          el('td', { class: 'sheets' }, ...(v.attachments ?? []).map((name) => el('a', { href: files(v, name), target: '_blank' }, el('img', { src: files(v, name), alt: name, title: name, class: 'thumb' })))),
          el(
            'td',
            {},
            v.active ? '' : el('button', { dataset: { testid: `activate-${v.version}` }, onclick: () => this.act(() => post(`/api/products/${product}/activate`, { version: v.version })) }, 'Activate'),
          ),
        ),
      ),
    );
  }
}
