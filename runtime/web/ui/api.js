// The device's JSON API, as the pages use it. A failed request throws an
// Error whose message is the device's explanation, shown to the user as is.

async function request(method, path, body, headers = {}) {
  let res;
  try {
    res = await fetch(path, { method, body, headers, credentials: 'same-origin' });
  } catch {
    throw new Error('the device does not answer: check the network connection');
  }
  if (res.status === 401) {
    location.href = '/login';
    throw new Error('sign in first');
  }
  const text = await res.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: text };
  }
  if (!res.ok) throw new Error(data.error || `the device answered ${res.status}`);
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, JSON.stringify(body), { 'content-type': 'application/json' });
export const put = (path, bytes, type) => request('PUT', path, bytes, { 'content-type': type || 'application/octet-stream' });

/** Calls `onState` with every snapshot of the device's state (cameras, capture, enrollment). */
export function subscribe(onState, onError) {
  const source = new EventSource('/api/events');
  source.addEventListener('state', (e) => onState(JSON.parse(e.data)));
  source.onerror = () => onError?.();
  source.onopen = () => onError?.(null);
  return source;
}

/** A DOM element: el('td', {class: 'x', dataset: {testid: 'y'}}, 'text', child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

export function showMessage(node, message) {
  node.textContent = message || '';
  node.hidden = !message;
}

export const percent = (v, digits = 2) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)} %`);
export const number = (v, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));

/**
 * A training job's stages as list items (enrollment, product update): the
 * server sends every planned stage with its label, and the progress of those
 * started so far, each with its ETA.
 */
export function stageItems(planned, stages) {
  const byId = new Map(stages.map((s) => [s.stage, s]));
  return planned.map(({ id, label }) => {
    const s = byId.get(id);
    const eta = s && !s.finished && s.etaSeconds !== null ? `, about ${Math.ceil(s.etaSeconds)} s left` : '';
    return el(
      'li',
      { class: s ? (s.finished ? 'finished' : 'current') : 'pending', dataset: { testid: `stage-${id}` } },
      el('span', { class: 'name' }, label),
      el('progress', { max: s?.total || 1, value: s?.done ?? 0 }),
      el('span', { class: 'count' }, s ? `${s.done} / ${s.total}${eta}` : 'waiting'),
    );
  });
}
