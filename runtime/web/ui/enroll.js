// Enroll: golden samples from a camera (capture) or from files (upload),
// training with a progress bar per stage, the result, Activate.
import { byTestId, el, number, percent, post, put, showMessage, stageItems } from './api.js';

export class EnrollPage {
  constructor(root) {
    this.root = root;
    this.set = null; // { product, set, images }
    this.cameras = [];
    this.q = (id) => byTestId(id, root);
    this.q('capture-start').addEventListener('click', () => this.run(() => this.capture()));
    this.q('capture-cancel').addEventListener('click', () => this.run(() => post('/api/capture/cancel')));
    this.q('upload-start').addEventListener('click', () => this.run(() => this.upload()));
    this.q('train-start').addEventListener('click', () => this.run(() => this.train()));
    this.q('train-cancel').addEventListener('click', () => this.run(() => post('/api/enrollment/cancel')));
    this.q('train-activate').addEventListener('click', () => this.run(() => this.activate()));
    this.q('enroll-camera').addEventListener('change', () => this.defaultProduct(true));
  }

  async run(action) {
    showMessage(this.q('enroll-error'), '');
    try {
      await action();
    } catch (err) {
      showMessage(this.q('enroll-error'), err.message);
    }
  }

  product() {
    const product = this.q('enroll-product').value.trim();
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(product)) throw new Error('Enter a product id: 1-64 lowercase letters, digits, "-" or "_".');
    return product;
  }

  defaultProduct(force) {
    const camera = this.cameras.find((c) => c.id === this.q('enroll-camera').value);
    if (camera && (force || !this.q('enroll-product').value)) this.q('enroll-product').value = camera.product;
  }

  async capture() {
    const count = Number(this.q('enroll-count').value);
    const minChange = this.q('enroll-min-change').value;
    await post('/api/capture', { camera: this.q('enroll-camera').value, product: this.product(), count, minChange });
  }

  async upload() {
    const files = [...this.q('upload-files').files];
    if (files.length === 0) throw new Error('Choose the image files to upload first.');
    const product = this.product();
    const { set } = await post(`/api/products/${product}/golden`);
    let images = 0;
    for (const file of files) {
      ({ images } = await put(`/api/products/${product}/golden/${set}/${encodeURIComponent(file.name)}`, file, file.type));
      this.useSet({ product, set, images });
    }
  }

  useSet(set) {
    this.set = set;
    showMessage(this.q('golden-set'), `Golden samples of ${set.product}: set ${set.set}, ${set.images} image(s).`);
    this.q('train-start').disabled = false;
  }

  async train() {
    if (!this.set) throw new Error('Capture or upload golden samples first.');
    showMessage(this.q('activate-message'), '');
    await post('/api/enrollment', { product: this.set.product, set: this.set.set });
  }

  async activate() {
    const r = this.result;
    if (!r) throw new Error('There is no finished training to activate.');
    const done = await post(`/api/products/${r.product}/activate`, { version: r.version });
    showMessage(this.q('activate-message'), `${done.activated} of ${r.product} is active; the cameras inspecting ${r.product} use it within seconds.`);
    this.q('train-activate').disabled = true;
  }

  update(state) {
    const select = this.q('enroll-camera');
    if (select.options.length !== state.cameras.length) {
      this.cameras = state.cameras;
      select.replaceChildren(...state.cameras.map((c) => el('option', { value: c.id }, `${c.id} (${c.product})`)));
      this.defaultProduct(false);
    }
    this.showCapture(state.capture);
    this.showEnrollment(state.enrollment);
  }

  showCapture(c) {
    const box = this.q('capture-progress');
    const running = c?.state === 'running';
    this.q('capture-start').disabled = running;
    this.q('capture-cancel').hidden = !running;
    if (!c) return;
    box.hidden = false;
    box.querySelector('progress').value = c.saved / c.count;
    const skipped = c.skippedSimilar ? `, ${c.skippedSimilar} frames skipped as too similar` : '';
    const words = {
      running: `capturing from ${c.camera}: ${c.saved} / ${c.count} saved${skipped}`,
      done: `captured ${c.saved} golden samples from ${c.camera} in ${c.seconds} s${skipped}`,
      failed: `capture failed after ${c.saved} image(s): ${c.error}`,
      cancelled: `capture cancelled after ${c.saved} image(s)`,
    };
    box.querySelector('span').textContent = words[c.state];
    box.dataset.state = c.state;
    if (c.state === 'done' && this.captureShown !== c.id) {
      this.captureShown = c.id;
      this.useSet({ product: c.product, set: c.set, images: c.saved });
    }
  }

  showEnrollment(e) {
    const running = e?.state === 'running';
    this.q('train-cancel').hidden = !running;
    this.q('train-start').disabled = running || !this.set;
    if (!e) return;
    // The server sends the stages with their labels: the trainer's own list.
    this.q('train-stages').replaceChildren(...stageItems(e.plannedStages, e.stages));
    const words = {
      running: `training ${e.product} on ${e.images} golden samples…`,
      done: `training finished in ${e.seconds} s`,
      failed: `training failed: ${e.error}`,
      cancelled: 'training cancelled; nothing was changed',
    };
    const status = this.q('train-status');
    status.textContent = words[e.state];
    status.dataset.state = e.state;
    status.className = e.state === 'failed' ? 'error' : '';
    const box = this.q('train-result');
    box.hidden = !(e.state === 'done' && e.result);
    if (e.state === 'done' && e.result && this.resultShown !== e.id) {
      this.resultShown = e.id;
      this.showResult(e.result);
    }
  }

  showResult(r) {
    this.result = r;
    const c = r.calibration;
    const rows = [
      ['Version', r.version],
      ['Golden samples', `${r.goldenSamples}${r.skipped.length ? ` (${r.skipped.length} left out: ${r.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : ''}`],
      ['Expected false rejects', `${percent(c.expectedFrr)} of good parts`],
      ['Synthetic defects missed', c.expectedMiss === null ? 'no synthetic defects were made' : `${percent(c.expectedMiss, 1)} of ${c.negatives}`],
      ['Reject threshold', `${number(r.imageThreshold)} (${c.method})`],
      ...(r.alignment ? [['Pose alignment', `SSIM ${number(r.alignment.ssim, 3)}, ms-SSIM ${number(r.alignment.msSsim, 3)}, trained in ${number(r.alignment.trainSeconds, 1)} s`]] : []),
      ...r.notes.map((n) => ['Note', n]),
    ];
    this.q('train-result').querySelector('dl').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { dataset: { testid: `result-${k.toLowerCase().replace(/\W+/g, '-')}` } }, v)]));
    const files = (name) => `/api/products/${r.product}/versions/${r.version}/files/${name}`;
    this.q('train-result').querySelector('.sheets').replaceChildren(
      ...r.attachments.map((name) => el('a', { href: files(name), target: '_blank', dataset: { testid: `sheet-${name}` } }, el('img', { src: files(name), alt: name, class: 'sheet' }))),
    );
    this.q('train-activate').disabled = false;
    showMessage(this.q('activate-message'), '');
  }
}
