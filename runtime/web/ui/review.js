// The Review page: a gallery of kept records (rejects, parts without a
// verdict, sampled passes) filtered by camera, product, version, verdict,
// time and review state; the selected record's heatmap and mask beside it,
// full size on click. Keyboard-driven: j/k or arrows move, d = defect,
// g = good part (a false reject), m = missed defect (a passed part; d on
// a passed part means the same),
// 1-9 = defect type, u = undo the last label, p = update the product.
//
// Update product builds a new version from the active one and the reviewed
// records (`linesight update --records` on the device), shows its stages,
// then the replay: every reviewed record judged by the active version and
// the new one side by side, the counts and the records whose verdict
// changes; Activate (verified as `linesight activate`) or Discard.
import { byTestId, el, get, number, post, showMessage, stageItems } from './api.js';

const PAGE = 60;

export class ReviewPage {
  constructor(root) {
    this.root = root;
    this.records = [];
    this.selected = 0;
    this.offset = 0;
    this.types = [];
    this.undo = [];
    this.form = byTestId('review-filters', root);
    this.form.addEventListener('change', () => this.reload(0));
    byTestId('review-prev', root).addEventListener('click', () => this.reload(Math.max(0, this.offset - PAGE)));
    byTestId('review-next', root).addEventListener('click', () => this.reload(this.offset + PAGE));
    document.addEventListener('keydown', (e) => this.key(e));
    byTestId('review-full', root).addEventListener('click', (e) => {
      e.currentTarget.hidden = true;
    });
    this.q = (id) => byTestId(id, root);
    this.q('update-start').addEventListener('click', () => this.startUpdate());
    this.q('update-cancel').addEventListener('click', () => this.act(() => post('/api/update/cancel')));
    this.q('update-activate').addEventListener('click', () => this.act(() => this.activateCandidate()));
    this.q('update-discard').addEventListener('click', () => this.act(() => this.discardCandidate()));
  }

  shown() {
    this.reload(this.offset);
  }

  filterQuery() {
    const q = new URLSearchParams();
    for (const field of this.form.elements) {
      if (!field.name || !field.value) continue;
      if (field.name === 'from') q.set('from', String(Date.now() - Number(field.value) * 3_600_000));
      else q.set(field.name, field.value);
    }
    return q;
  }

  async reload(offset) {
    const q = this.filterQuery();
    q.set('offset', String(offset));
    q.set('limit', String(PAGE));
    try {
      const page = await get(`/api/records?${q}`);
      this.offset = offset;
      this.records = page.records;
      this.selected = Math.min(this.selected, Math.max(0, this.records.length - 1));
      const product = q.get('product') || this.records[0]?.product;
      this.types = product ? (await get(`/api/products/${encodeURIComponent(product)}/defect-types`)).types : [];
      byTestId('review-count', this.root).textContent = page.total
        ? `${offset + 1}–${offset + page.records.length} of ${page.total}${page.totalCapped ? '+' : ''}`
        : 'no records match';
      showMessage(byTestId('review-error', this.root), '');
      this.render();
      await this.reviewCounts();
    } catch (err) {
      showMessage(byTestId('review-error', this.root), err.message);
    }
  }

  render() {
    const gallery = byTestId('review-gallery', this.root);
    gallery.replaceChildren(
      ...this.records.map((r, i) =>
        el(
          'figure',
          { class: `tile ${r.verdict}${i === this.selected ? ' selected' : ''}`, dataset: { testid: 'review-tile', id: String(r.id), label: r.label ?? '' }, onclick: () => this.select(i) },
          el('img', { src: `/api/records/${r.id}/map`, alt: `record ${r.id}`, loading: 'lazy' }),
          el('figcaption', {}, `${r.verdict} ${number(r.score, 2)}`, el('span', { class: `label ${r.label ?? 'none'}` }, r.label ? ` · ${r.label}${r.defectType ? ` (${r.defectType})` : ''}` : '')),
        ),
      ),
    );
    this.renderDetail();
  }

  renderDetail() {
    const r = this.records[this.selected];
    const detail = byTestId('review-detail', this.root);
    if (!r) {
      detail.replaceChildren();
      return;
    }
    const full = (src) => () => {
      const box = byTestId('review-full', this.root);
      box.replaceChildren(el('img', { src, alt: 'full size' }));
      box.hidden = false;
    };
    const time = new Date(r.ts).toLocaleString();
    detail.replaceChildren(
      el('div', { class: 'pair' }, el('img', { src: `/api/records/${r.id}/map`, alt: 'heatmap', onclick: full(`/api/records/${r.id}/map`) }), el('img', { src: `/api/records/${r.id}/mask`, alt: 'mask', onclick: full(`/api/records/${r.id}/mask`) })),
      el(
        'dl',
        { class: 'result', dataset: { testid: 'review-facts' } },
        ...[
          ['Record', r.id],
          ['Time', time],
          ['Camera', r.camera],
          ['Product', `${r.product} ${r.version ?? ''}`],
          ['Part', r.partId ?? '–'],
          ['Verdict', r.verdict],
          ['Score / threshold', `${number(r.score)} / ${number(r.threshold)}`],
          ['Label', r.label ? `${r.label}${r.defectType ? ` (${r.defectType})` : ''}` : 'not reviewed'],
        ].flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]),
      ),
      el('p', { class: 'hint' }, 'j/k move · d defect · g good · m missed · ', ...this.types.map((t, i) => `${i + 1} ${t} · `), 'u undo · p update product'),
    );
    byTestId('review-gallery', this.root).children[this.selected]?.scrollIntoView({ block: 'nearest' });
  }

  select(i) {
    this.selected = Math.max(0, Math.min(this.records.length - 1, i));
    for (const [j, tile] of [...byTestId('review-gallery', this.root).children].entries()) tile.classList.toggle('selected', j === this.selected);
    this.renderDetail();
  }

  async label(label, type = null, remember = true) {
    const r = this.records[this.selected];
    if (!r) return;
    try {
      const updated = await post(`/api/records/${r.id}/review`, { label, type });
      if (remember) this.undo.push({ index: this.selected, id: r.id, label: r.label, type: r.defectType });
      this.records[this.selected] = updated;
      this.render();
      if (remember) this.select(this.selected + 1);
      showMessage(byTestId('review-error', this.root), '');
      await this.reviewCounts();
    } catch (err) {
      showMessage(byTestId('review-error', this.root), err.message);
    }
  }

  async undoLast() {
    const last = this.undo.pop();
    if (!last) return;
    const index = this.records.findIndex((r) => r.id === last.id);
    if (index < 0) return;
    this.selected = index;
    await this.label(last.label, last.type, false);
  }

  key(e) {
    if (this.root.hidden || e.target.closest?.('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) return;
    const current = this.records[this.selected];
    const actions = {
      j: () => this.select(this.selected + 1),
      ArrowDown: () => this.select(this.selected + 1),
      ArrowRight: () => this.select(this.selected + 1),
      k: () => this.select(this.selected - 1),
      ArrowUp: () => this.select(this.selected - 1),
      ArrowLeft: () => this.select(this.selected - 1),
      // A defective part that passed is a missed defect.
      d: () => this.label(current?.verdict === 'ok' ? 'missed' : 'defect'),
      g: () => this.label('good'),
      m: () => this.label('missed'),
      u: () => this.undoLast(),
      p: () => this.startUpdate(),
    };
    let action = actions[e.key];
    const n = Number(e.key);
    if (!action && n >= 1 && n <= this.types.length) action = () => this.label(current?.verdict === 'ok' ? 'missed' : 'defect', this.types[n - 1]);
    if (!action) return;
    e.preventDefault();
    action();
  }

  // Update product: a new version from the reviewed records, its replay, Activate or Discard.

  /** The product an update is for: the filter's, else the selected record's. */
  product() {
    return this.filterQuery().get('product') || this.records[this.selected]?.product || this.records[0]?.product || null;
  }

  async act(action) {
    showMessage(byTestId('review-error', this.root), '');
    try {
      await action();
    } catch (err) {
      showMessage(byTestId('review-error', this.root), err.message);
    }
  }

  /** How many records of the product are reviewed, per label, beside the Update button. */
  async reviewCounts() {
    const product = this.product();
    const hint = this.q('update-hint');
    if (!product) {
      hint.textContent = 'no records to learn from yet';
      return;
    }
    const total = async (label) => (await get(`/api/records?product=${encodeURIComponent(product)}&label=${label}&limit=1`)).total;
    const [good, defect, missed] = await Promise.all(['good', 'defect', 'missed'].map(total));
    this.reviewed = { product, good, defect, missed };
    hint.textContent = good
      ? `a new version of ${product} from its active version and the reviewed records: ${good} marked good, ${defect} confirmed defects, ${missed} missed defects (not activated until you say so)`
      : `mark the false rejects of ${product} good (g) first; the new version learns them`;
    this.q('update-start').disabled = this.updating || !good;
  }

  startUpdate() {
    return this.act(async () => {
      const product = this.product();
      if (!product) throw new Error('There are no records of a product to learn from.');
      showMessage(this.q('update-message'), '');
      const { update } = await post(`/api/products/${encodeURIComponent(product)}/update`, {});
      this.showUpdate(update);
    });
  }

  update(state) {
    this.showUpdate(state.update);
  }

  showUpdate(u) {
    this.updating = u?.state === 'running';
    this.q('update-cancel').hidden = !this.updating;
    this.q('update-start').disabled = this.updating || this.reviewed?.good === 0;
    if (!u) return;
    const stages = this.q('update-stages');
    stages.hidden = false;
    stages.replaceChildren(...stageItems(u.plannedStages, u.stages));
    const r = u.result;
    const words = {
      running: `building a new version of ${u.product} from its reviewed records…`,
      done: r ? `${r.version} of ${u.product} built from ${r.updatedFrom} in ${u.seconds} s; it is not active until you activate it` : '',
      failed: `the update failed: ${u.error}`,
      cancelled: 'the update was cancelled; nothing was activated',
    };
    const status = this.q('update-status');
    status.textContent = u.discarded ? `${r.version} was discarded; ${u.product} stays on ${r.updatedFrom}` : words[u.state];
    status.dataset.state = u.discarded ? 'discarded' : u.state;
    status.className = u.state === 'failed' ? 'error' : '';
    const box = this.q('update-result');
    box.hidden = !(u.state === 'done' && r && !u.discarded);
    if (!box.hidden && this.replayShown !== u.id) {
      this.replayShown = u.id;
      this.job = u;
      this.showReplay(r);
    }
  }

  showReplay(r) {
    const { totals, active, candidate } = r.replay;
    this.q('replay-active-version').textContent = `active ${r.updatedFrom}`;
    this.q('replay-candidate-version').textContent = `new ${r.version}`;
    this.q('replay-changed-active').textContent = r.updatedFrom;
    this.q('replay-changed-candidate').textContent = r.version;
    const compare = (a, c) => (c > a ? 'better' : c < a ? 'worse' : '');
    const row = (id, name, key, of) =>
      el(
        'tr',
        { dataset: { testid: `replay-${id}` } },
        el('th', {}, name),
        el('td', { dataset: { testid: `replay-${id}-active` } }, `${active[key]} / ${of}`),
        el('td', { class: compare(active[key], candidate[key]), dataset: { testid: `replay-${id}-candidate` } }, `${candidate[key]} / ${of}`),
      );
    this.q('replay-table').querySelector('tbody').replaceChildren(
      row('good', 'Marked good, now pass', 'goodPass', totals.good),
      row('defects', 'Confirmed defects, still reject', 'defectReject', totals.defects),
      row('missed', 'Missed defects, now reject', 'missedReject', totals.missed),
      el('tr', {}, el('th', {}, 'Reject threshold'), el('td', {}, number(r.thresholds.before)), el('td', {}, `${number(r.thresholds.after)} (${r.thresholds.how})`)),
    );
    const changed = r.replay.records.filter((x) => x.active.verdict !== x.candidate.verdict);
    this.q('replay-changed-count').textContent = `${changed.length} of ${r.replay.records.length} reviewed records change verdict${changed.length ? ':' : ''}`;
    const group = (x) => ({ good: 'good (false reject)', defects: `defect${x.type && x.type !== 'defect' ? ` (${x.type})` : ''}`, missed: 'missed defect' })[x.group];
    const verdict = (v) => el('span', { class: `badge ${v.verdict}` }, `${v.verdict.toUpperCase()} ${number(v.score, 2)}`);
    // A confirmed or missed defect that now passes, or a good part that now rejects, is a regression.
    const regression = (x) => (x.group === 'good' ? x.candidate.verdict === 'reject' : x.candidate.verdict === 'ok');
    this.q('replay-changed').hidden = changed.length === 0;
    this.q('replay-changed').querySelector('tbody').replaceChildren(
      ...changed.map((x) =>
        el(
          'tr',
          { class: regression(x) ? 'regression' : '', dataset: { testid: 'replay-record', id: String(x.recordId ?? ''), part: x.partId ?? '', group: x.group } },
          el('td', {}, x.recordId ? el('img', { class: 'thumb', src: `/api/records/${x.recordId}/image`, alt: `record ${x.recordId}` }) : null, x.recordId ? String(x.recordId) : x.path),
          el('td', {}, x.partId ?? '–'),
          el('td', {}, group(x)),
          el('td', {}, verdict(x.active)),
          el('td', {}, verdict(x.candidate)),
        ),
      ),
    );
    this.q('update-notes').replaceChildren(...r.notes.map((n) => el('li', {}, n)));
    this.q('update-activate').textContent = `Activate ${r.version}`;
    this.q('update-activate').disabled = false;
    this.q('update-discard').disabled = false;
    showMessage(this.q('update-message'), '');
    this.act(() => this.showIfActive(r));
  }

  /** A new version activated meanwhile (here or on the Products page) is neither activated again nor discarded. */
  async showIfActive(r) {
    const { products } = await get('/api/products');
    if (products.find((p) => p.product === r.product)?.active !== r.version) return;
    this.q('update-activate').disabled = true;
    this.q('update-discard').disabled = true;
    showMessage(this.q('update-message'), `${r.version} is the active version of ${r.product}.`);
  }

  async activateCandidate() {
    const u = this.job;
    if (!u?.result) throw new Error('There is no new version to activate.');
    const done = await post(`/api/products/${encodeURIComponent(u.product)}/activate`, { version: u.result.version });
    this.q('update-activate').disabled = true;
    this.q('update-discard').disabled = true;
    showMessage(this.q('update-message'), `${done.activated} of ${u.product} is active; the cameras inspecting ${u.product} use it within seconds.`);
  }

  async discardCandidate() {
    const u = this.job;
    if (!u?.result) throw new Error('There is no new version to discard.');
    await post('/api/update/discard', {});
    this.q('update-activate').disabled = true;
    this.q('update-discard').disabled = true;
  }
}
