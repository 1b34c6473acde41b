// The Review page: a gallery of kept records (rejects, parts without a
// verdict, sampled passes) filtered by camera, product, version, verdict,
// time and review state; the selected record's heatmap and mask beside it,
// full size on click. Keyboard-driven: j/k or arrows move, d = defect,
// g = good part (a false reject), m = missed defect (a passed part; d on
// a passed part means the same),
// 1-9 = defect type, u = undo the last label.
import { byTestId, el, get, number, post, showMessage } from './api.js';

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
      el('p', { class: 'hint' }, 'j/k move · d defect · g good · m missed · ', ...this.types.map((t, i) => `${i + 1} ${t} · `), 'u undo'),
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
    };
    let action = actions[e.key];
    const n = Number(e.key);
    if (!action && n >= 1 && n <= this.types.length) action = () => this.label(current?.verdict === 'ok' ? 'missed' : 'defect', this.types[n - 1]);
    if (!action) return;
    e.preventDefault();
    action();
  }
}
