// The page's frame: tabs (Live, Products, Enroll, Review, Statistics) chosen by the URL's hash,
// one stream of device state shared by the pages.
import { byTestId, showMessage, subscribe } from './api.js';
import { LivePage } from './live.js';
import { ProductsPage } from './products.js';
import { EnrollPage } from './enroll.js';
import { ReviewPage } from './review.js';
import { StatisticsPage } from './statistics.js';

const pages = {
  live: new LivePage(document.getElementById('live')),
  products: new ProductsPage(document.getElementById('products')),
  enroll: new EnrollPage(document.getElementById('enroll')),
  review: new ReviewPage(document.getElementById('review')),
  statistics: new StatisticsPage(document.getElementById('statistics')),
};

function show() {
  const name = location.hash.slice(1) in pages ? location.hash.slice(1) : 'live';
  for (const [key, page] of Object.entries(pages)) page.root.hidden = key !== name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.getAttribute('href') === `#${name}`);
  pages[name].shown?.();
}

window.addEventListener('hashchange', show);
show();

subscribe(
  (state) => {
    showMessage(byTestId('connection-error'), '');
    const device = byTestId('device-status');
    device.textContent = `${state.device} · ${state.status === 'ok' ? 'all OK' : 'needs attention'} · MQTT ${state.mqtt}`;
    device.className = `device ${state.status}`;
    for (const page of Object.values(pages)) page.update?.(state);
  },
  (err) => {
    if (err !== null) showMessage(byTestId('connection-error'), 'Lost the connection to the device; reconnecting…');
  },
);
