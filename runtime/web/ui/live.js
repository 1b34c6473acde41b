// Live: per camera the newest frame (heatmap overlay when scored), verdict,
// score against the reject threshold, fps, problems, and the recent rejects.
import { byTestId, el, get, number } from './api.js';

export class LivePage {
  constructor(root) {
    this.root = root;
    this.cards = new Map();
  }

  update(state) {
    const problems = byTestId('device-problems', this.root);
    problems.replaceChildren(...state.problems.map((p) => el('p', { class: 'warning' }, p)));
    const list = byTestId('cameras', this.root);
    for (const camera of state.cameras) {
      let card = this.cards.get(camera.id);
      if (!card) {
        card = new CameraCard(camera.id);
        this.cards.set(camera.id, card);
        list.append(card.root);
      }
      card.update(camera);
    }
  }
}

/** A camera's part counters as one line: what a shift lead reads off the line. */
function partsLine(p) {
  const rate = p.rejectRate === null ? '-' : `${number(p.rejectRate * 100, 1)} %`;
  const time = p.processingMs ? ` · processing ${Math.round(p.processingMs.mean)} ms (${Math.round(p.processingMs.min)}-${Math.round(p.processingMs.max)})` : '';
  return `parts ${p.parts} · OK ${p.ok} · NG ${p.ng} · no verdict ${p.noVerdict} · trigger errors ${p.triggerErrors} · reject rate ${rate}${time}`;
}

class CameraCard {
  constructor(id) {
    this.id = id;
    this.frameSeq = null;
    this.loading = false;
    this.rejects = -1;
    const t = (name) => `${name}-${id}`;
    this.title = el('h3');
    this.image = el('img', { alt: `camera ${id}`, dataset: { testid: t('live-image') } });
    this.verdict = el('span', { class: 'badge', dataset: { testid: t('verdict') } });
    this.bar = el('div', { class: 'fill' });
    this.marker = el('div', { class: 'marker' });
    this.score = el('span', { dataset: { testid: t('score') } });
    this.stats = el('span', { class: 'stats', dataset: { testid: t('stats') } });
    this.parts = el('span', { class: 'stats', dataset: { testid: t('parts') } });
    this.problems = el('div', { dataset: { testid: t('problems') } });
    this.strip = el('div', { class: 'strip', dataset: { testid: t('rejects') } });
    this.root = el(
      'article',
      { class: 'camera', dataset: { testid: t('camera') } },
      this.title,
      el('div', { class: 'view' }, this.image),
      el('p', { class: 'verdict' }, this.verdict, ' ', this.score),
      el('div', { class: 'scorebar', title: 'score against the reject threshold (the line)' }, this.bar, this.marker),
      el('p', {}, this.stats),
      el('p', {}, this.parts),
      this.problems,
      el('h4', {}, 'Recent rejects'),
      this.strip,
    );
    this.image.addEventListener('load', () => (this.loading = false));
    this.image.addEventListener('error', () => (this.loading = false));
  }

  update(c) {
    this.title.textContent = `${c.id} · ${c.product} ${c.modelVersion ?? '(not enrolled yet)'}`;
    const r = c.lastResult;
    if (!c.enrolled || !r) {
      this.verdict.textContent = c.enrolled ? 'WAITING' : 'NOT SCORED';
      this.verdict.className = 'badge idle';
      this.score.textContent = '';
      this.bar.style.width = '0';
    } else {
      this.verdict.textContent = r.verdict === 'reject' ? 'REJECT' : 'OK';
      this.verdict.className = `badge ${r.verdict}`;
      this.score.textContent = `score ${number(r.score, 2)} / threshold ${number(r.threshold, 2)}`;
      // The threshold sits at two thirds of the bar.
      const scale = r.threshold * 1.5;
      this.bar.style.width = `${Math.min(100, (100 * r.score) / scale)}%`;
      this.bar.className = `fill ${r.verdict}`;
      this.marker.style.left = `${(100 * r.threshold) / scale}%`;
    }
    this.stats.textContent = `${c.state}${c.reason ? ` (${c.reason})` : ''} · ${number(c.fps, 1)} fps · ${c.scored} scored · ${c.rejects} rejects${c.p50Ms !== null ? ` · ${Math.round(c.p50Ms)} ms` : ''}`;
    this.parts.textContent = c.parts ? partsLine(c.parts) : '';
    this.problems.replaceChildren(...c.problems.map((p) => el('p', { class: 'warning' }, p)));
    if (c.frameSeq !== null && c.frameSeq !== this.frameSeq && !this.loading) {
      this.frameSeq = c.frameSeq;
      this.loading = true;
      this.image.src = `/api/cameras/${encodeURIComponent(c.id)}/frame?seq=${c.frameSeq}`;
    }
    if (c.rejects !== this.rejects) {
      this.rejects = c.rejects;
      this.loadRejects().catch((err) => this.strip.replaceChildren(el('p', { class: 'error' }, err.message)));
    }
  }

  async loadRejects() {
    const { rejects } = await get(`/api/cameras/${encodeURIComponent(this.id)}/rejects`);
    const base = `/api/cameras/${encodeURIComponent(this.id)}/rejects`;
    this.strip.replaceChildren(
      ...rejects.map((r) =>
        el(
          'figure',
          { dataset: { testid: 'reject-item', seq: r.rejectSeq } },
          el('img', { src: `${base}/${r.rejectSeq}/overlay.png`, alt: `reject ${r.rejectSeq} overlay`, dataset: { testid: 'reject-overlay' } }),
          el('img', { src: `${base}/${r.rejectSeq}/mask.png`, alt: `reject ${r.rejectSeq} defect mask`, dataset: { testid: 'reject-mask' } }),
          el('figcaption', {}, `#${r.rejectSeq} · ${new Date(r.ts).toLocaleTimeString()} · ${number(r.score, 2)} / ${number(r.threshold, 2)}`),
        ),
      ),
    );
    if (rejects.length === 0) this.strip.append(el('p', { class: 'hint' }, 'none yet'));
  }
}
