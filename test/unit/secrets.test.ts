/**
 * Credentials never reach /health or a log line: URL redaction for every
 * scheme and password shape, and free-text scrubbing of URLs and known
 * secrets, checked on hand-written cases and on thousands of random
 * passwords over the whole printable ASCII range (seeded, so a failure
 * reproduces).
 */
import t from 'tap';
import { redactDeep, redactSecrets, redactUrl, secretForms, secretRedactor, urlPassword } from '../../config/secrets.ts';

const SCHEMES = ['rtsp', 'rtsps', 'http', 'https', 'mqtt', 'mqtts', 'ws', 'wss', 'tcp', 'tls'];

/** mulberry32: a small seeded generator. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), a | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPassword(random: () => number, min: number, max: number): string {
  const length = min + Math.floor(random() * (max - min + 1));
  let password = '';
  for (let i = 0; i < length; i++) password += String.fromCharCode(0x20 + Math.floor(random() * 95));
  return password;
}

function decodeOrSelf(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Every readable form of the password that a leak could take (only forms long enough to be told from chance). */
function leakForms(password: string): string[] {
  return [password, encodeURIComponent(password), decodeOrSelf(password)].filter((form) => form.length >= 4);
}

t.test('redactUrl hides the password of every scheme and shape', async (t) => {
  t.equal(redactUrl('rtsp://admin:hunter2@10.0.0.5:554/line'), 'rtsp://admin:***@10.0.0.5:554/line');
  t.equal(redactUrl('rtsp://admin:pa/ss@10.0.0.5/line'), 'rtsp://admin:***@10.0.0.5/line', 'a / in the password');
  t.equal(redactUrl('rtsp://admin:p@ss@10.0.0.5/line'), 'rtsp://admin:***@10.0.0.5/line', 'an @ in the password');
  t.equal(redactUrl('mqtts://line:a:b:c@broker:8883'), 'mqtts://line:***@broker:8883', 'colons in the password');
  t.equal(redactUrl('mqtt://line:p%40ss%2Fw@broker'), 'mqtt://line:***@broker', 'percent-encoded');
  t.equal(redactUrl('wss://:token@host/mqtt'), 'wss://:***@host/mqtt', 'no user name');
  t.equal(redactUrl('tcp://u:pa ss#x?y@h:1'), 'tcp://u:***@h:1', 'a URL that does not parse');
  t.equal(redactUrl('rtsp://10.0.0.5/line'), 'rtsp://10.0.0.5/line', 'no credentials: unchanged');
  t.equal(redactUrl('rtsp://viewer@10.0.0.5/line'), 'rtsp://viewer@10.0.0.5/line', 'a user without password: unchanged');
  t.equal(redactUrl('/videos/line.mp4'), '/videos/line.mp4');
  for (const scheme of SCHEMES) t.equal(redactUrl(`${scheme}://u:s3cr/et@h/p`), `${scheme}://u:***@h/p`, scheme);
});

t.test('urlPassword reads the password as written', async (t) => {
  t.equal(urlPassword('rtsp://admin:pa/ss@cam/line'), 'pa/ss');
  t.equal(urlPassword('mqtt://u:p%40ss@broker'), 'p%40ss');
  t.equal(urlPassword('rtsp://cam/line'), undefined);
  t.equal(urlPassword('rtsp://admin@cam/line'), undefined);
});

t.test('secretForms covers written, decoded and encoded forms', async (t) => {
  const forms = secretForms('p%40ss/w');
  for (const form of ['p%40ss/w', 'p@ss/w', 'p%40ss%2Fw', 'p%2540ss%2Fw']) t.ok(forms.includes(form), form);
  t.ok(secretForms("it's*").includes('it%27s%2A'), 'the strict encoding too');
});

t.test('redactSecrets scrubs URLs in ffmpeg lines and known secrets anywhere', async (t) => {
  t.equal(redactSecrets('rtsp://admin:hunter2@10.0.0.5:554/line: Connection refused'), 'rtsp://admin:***@10.0.0.5:554/line: Connection refused');
  t.equal(redactSecrets('[rtsp @ 0x55] method DESCRIBE failed for rtsp://admin:pa/ss@cam/line: 401'), '[rtsp @ 0x55] method DESCRIBE failed for rtsp://admin:***@cam/line: 401');
  t.equal(redactSecrets('login "hunter22" refused', ['hunter22']), 'login "***" refused', 'a known secret outside any URL');
  t.equal(redactSecrets('opening rtsp://admin:pa ss@cam', ['pa%20ss']), 'opening rtsp://admin:***@cam', 'the decoded form of a percent-encoded secret');
  t.equal(redactSecrets('x P%2fSS%2fw y', ['P/SS/w']), 'x *** y', 'lower-case percent escapes');
  t.equal(redactSecrets('exit 12', ['12']), 'exit 12', 'secrets too short to search for in text are left to the URL rule');
  t.equal(redactSecrets('rtsp://a:12@cam exit 12', ['12']), 'rtsp://a:***@cam exit 12');
  t.equal(redactSecrets('nothing secret here', [undefined]), 'nothing secret here');
});

t.test('redactDeep scrubs every string of a health snapshot', async (t) => {
  const health = { mqtt: { lastError: 'cannot reach broker mqtt://u:brokerpw1@b:1883' }, cameras: [{ reason: 'token tok-123456 refused', fps: 3 }], status: 'degraded' };
  const scrubbed = redactDeep(health, secretRedactor(['tok-123456']));
  t.same(scrubbed, { mqtt: { lastError: 'cannot reach broker mqtt://u:***@b:1883' }, cameras: [{ reason: 'token *** refused', fps: 3 }], status: 'degraded' });
  t.equal(health.cameras[0]!.reason, 'token tok-123456 refused', 'the original is not changed');
});

t.test('random passwords over the printable range never survive redaction', async (t) => {
  const random = seeded(19);
  const runs = 3000;
  let failures = 0;
  for (let i = 0; i < runs; i++) {
    const password = randomPassword(random, 6, 24);
    const scheme = SCHEMES[i % SCHEMES.length]!;
    const written = i % 2 === 0 ? encodeURIComponent(password) : password;
    const url = `${scheme}://operator:${written}@10.0.0.${i % 250}:554/stream/1`;
    const outputs = [
      redactUrl(url),
      redactSecrets(`[${scheme} @ 0x5581] ${url}: Connection refused`, [written]),
      redactSecrets(`Could not open ${scheme}://operator:${password}@10.0.0.1/s (${encodeURIComponent(password)})`, [written]),
      redactSecrets(`${JSON.stringify({ url })} ${url}`, [written]),
    ];
    for (const output of outputs) {
      const leaked = leakForms(password).find((form) => output.includes(form));
      if (leaked !== undefined) {
        failures++;
        if (failures <= 5) t.fail(`password ${JSON.stringify(password)} leaked as ${JSON.stringify(leaked)} in ${JSON.stringify(output)}`);
      }
    }
  }
  t.equal(failures, 0, `${runs} random passwords, 4 outputs each`);
});

t.test('random passwords in URLs are scrubbed from text even when unknown', async (t) => {
  const random = seeded(7);
  let tried = 0;
  for (let i = 0; i < 3000; i++) {
    // In free text a URL ends at whitespace or a quote; such passwords need the known-secret rule.
    const password = randomPassword(random, 1, 24).replace(/[\s'"<>]/g, 'x');
    const url = `rtsp://admin:${password}@cam-${i}/line`;
    const output = redactSecrets(`[tcp @ 0x1] ${url}: 401 Unauthorized`);
    tried++;
    if (output !== `[tcp @ 0x1] rtsp://admin:***@cam-${i}/line: 401 Unauthorized`) {
      t.fail(`${JSON.stringify(password)} -> ${JSON.stringify(output)}`);
      break;
    }
  }
  t.equal(tried, 3000);
});
