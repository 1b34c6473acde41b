// The Statistics page: parts, OK, NG and reject rate per hour and per
// shift, the histogram of recent scores against the threshold, and the
// drift of good parts' scores from their reference, drawn with uPlot
// (served by the device from its node_modules). CSV and JSON export links.
import { byTestId, el, get, number, percent, showMessage } from './api.js';

export class StatisticsPage {
  constructor(root) {
    this.root = root;
    this.plots = [];
    this.form = byTestId('stats-filters', root);
    this.form.addEventListener('change', () => this.shown());
  }

  query() {
    const q = new URLSearchParams();
    for (const field of this.form.elements) if (field.name && field.value) q.set(field.name, field.value);
    return q;
  }

  async shown() {
    const q = this.query();
    try {
      const report = await get(`/api/statistics?${q}`);
      showMessage(byTestId('stats-error', this.root), '');
      showMessage(byTestId('stats-warnings', this.root), report.warnings.join('\n'));
      for (const [name, period] of [['stats-csv-hour', 'hour'], ['stats-csv-shift', 'shift']]) {
        const link = new URLSearchParams(q);
        link.set('format', 'csv');
        link.set('period', period);
        byTestId(name, this.root).setAttribute('href', `/api/statistics?${link}`);
      }
      byTestId('stats-json', this.root).setAttribute('href', `/api/statistics?${q}`);
      this.table(byTestId('stats-shifts', this.root), report.perShift);
      this.table(byTestId('stats-hours', this.root), report.perHour);
      byTestId('stats-drift', this.root).replaceChildren(
        ...(report.drift.length
          ? report.drift.map((d) => el('li', {}, `${d.product} ${d.version}: median moved ${number(d.medianShift, 3)} thresholds, KS ${number(d.ks, 3)} (${d.recentCount} recent vs ${d.referenceCount} reference parts)`))
          : [el('li', {}, 'not enough good parts yet to measure drift')]),
      );
      this.draw(report);
    } catch (err) {
      showMessage(byTestId('stats-error', this.root), err.message);
    }
  }

  table(node, tallies) {
    node.querySelector('tbody').replaceChildren(
      ...tallies.map((t) => el('tr', {}, el('td', {}, t.key), el('td', {}, String(t.parts)), el('td', {}, String(t.ok)), el('td', {}, String(t.ng)), el('td', {}, String(t.noVerdict)), el('td', {}, percent(t.rejectRate)))),
    );
  }

  draw(report) {
    for (const p of this.plots) p.destroy();
    this.plots = [];
    const uPlot = window.uPlot;
    if (!uPlot) {
      showMessage(byTestId('stats-error', this.root), 'the charting library is not installed on the device (npm package uplot); tables only');
      return;
    }
    const width = Math.min(900, this.root.clientWidth || 900);
    const hours = report.perHour;
    const rate = byTestId('stats-rate-plot', this.root);
    rate.replaceChildren();
    this.plots.push(
      new uPlot(
        {
          width,
          height: 220,
          title: 'Parts and reject rate per hour',
          series: [{}, { label: 'parts', stroke: '#2a6' }, { label: 'NG', stroke: '#c33' }, { label: 'reject rate %', stroke: '#36c', scale: '%' }],
          axes: [{}, { label: 'parts' }, { side: 1, scale: '%', label: '%' }],
        },
        [hours.map((t) => t.start / 1000), hours.map((t) => t.parts), hours.map((t) => t.ng), hours.map((t) => (t.rejectRate ?? 0) * 100)],
        rate,
      ),
    );
    const hist = byTestId('stats-histogram', this.root);
    hist.replaceChildren();
    const h = report.histogram;
    if (!h) {
      hist.append(el('p', { class: 'hint' }, 'no scored parts yet'));
      return;
    }
    const threshold = h.edges.map(() => null);
    const top = Math.max(...h.counts, 1);
    const at = h.edges.findIndex((e, i) => e <= h.threshold && (h.edges[i + 1] ?? Infinity) > h.threshold);
    if (at >= 0) threshold[at] = top;
    this.plots.push(
      new uPlot(
        {
          width,
          height: 220,
          title: `Recent scores against the threshold (${number(h.threshold)})`,
          scales: { x: { time: false } },
          series: [{ label: 'score' }, { label: 'parts', stroke: '#36c', fill: 'rgba(51,102,204,0.3)', paths: uPlot.paths.bars() }, { label: 'threshold', stroke: '#c33', paths: uPlot.paths.bars(), points: { show: false } }],
        },
        [h.edges, h.counts, threshold],
        hist,
      ),
    );
  }
}
