/**
 * Keeps passwords and tokens out of everything a person or a probe can read:
 * `/health` (open without auth), the journal, start-up lines. Camera and
 * broker URLs carry credentials (`rtsp://user:pass@camera/...`), and tools
 * such as ffmpeg echo them back in their error lines, sometimes
 * percent-decoded. Every text leaving the process through those edges goes
 * through `redactUrl` (one URL) or `redactSecrets` (free text).
 *
 * Pure functions; the bottom layer so every part of the product can use them.
 */

/** What a redacted password looks like. */
export const REDACTED = '***';

/** Shorter secrets are not searched for in free text (they would erase ordinary words). */
export const MIN_FREE_TEXT_SECRET_LENGTH = 4;

/**
 * `scheme://user:password@` at the start of a URL. The password runs to the
 * LAST `@` of the URL so that `/`, `@` and `:` inside it (written unencoded)
 * never leave a part of it behind; a path containing `@` is redacted up to
 * that `@` too, which hides more than needed but never leaks.
 */
const URL_CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/)([^/:@?#]*):([\s\S]*)@/i;

/** The same inside free text: a URL ends at whitespace or a quote. */
const TEXT_URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/:@?#'"<>]*):([^\s'"<>]*)@/gi;

/** The URL with its password replaced by `***` (any scheme; URLs that do not parse too). */
export function redactUrl(url: string): string {
  return url.replace(URL_CREDENTIALS, (_all, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
}

/** The password written in a URL's user info (as written, possibly percent-encoded), if any. */
export function urlPassword(url: string): string | undefined {
  const match = URL_CREDENTIALS.exec(url);
  return match && match[3] !== '' ? match[3] : undefined;
}

function tryDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Every character except RFC 3986's unreserved ones percent-encoded (stricter than encodeURIComponent). */
function encodeEverything(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The forms a secret can take in text: as written, percent-decoded and
 * percent-encoded (both the usual and the strict encoding, of the written
 * and of the decoded form).
 */
export function secretForms(secret: string): string[] {
  const decoded = tryDecode(secret);
  const bases = decoded !== undefined && decoded !== secret ? [secret, decoded] : [secret];
  const forms = new Set<string>();
  for (const base of bases) {
    forms.add(base);
    forms.add(encodeURIComponent(base));
    forms.add(encodeEverything(base));
  }
  return [...forms].filter((form) => form.length > 0);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A pattern for one form; hex digits of percent-escapes match in either case. */
function formPattern(form: string): string {
  return form
    .split(/(%[0-9A-Fa-f]{2})/)
    .map((part) => (/^%[0-9A-Fa-f]{2}$/.test(part) ? `%${[...part.slice(1)].map((d) => `[${d.toUpperCase()}${d.toLowerCase()}]`).join('')}` : escapeRegExp(part)))
    .join('');
}

/** One pattern matching every form of every known secret, longest first. */
function knownSecretsPattern(knownSecrets: readonly (string | undefined)[]): RegExp | undefined {
  const forms = new Set<string>();
  for (const secret of knownSecrets) {
    if (secret === undefined) continue;
    for (const form of secretForms(secret)) if (form.length >= MIN_FREE_TEXT_SECRET_LENGTH) forms.add(form);
  }
  if (forms.size === 0) return undefined;
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map(formPattern).join('|'), 'g');
}

/**
 * Free text with every URL's password and every known secret (in each of
 * its forms, see `secretForms`) replaced by `***`. Known secrets are the
 * passwords and tokens from the config; URLs with credentials are scrubbed
 * even when their password is not known.
 */
export function redactSecrets(text: string, knownSecrets: readonly (string | undefined)[] = []): string {
  return secretRedactor(knownSecrets)(text);
}

/** `redactSecrets` for many texts with the same known secrets (the pattern is built once). */
export function secretRedactor(knownSecrets: readonly (string | undefined)[]): (text: string) => string {
  const known = knownSecretsPattern(knownSecrets);
  return (text) => {
    const withoutKnown = known ? text.replace(known, REDACTED) : text;
    return withoutKnown.replace(TEXT_URL_CREDENTIALS, (_all, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
  };
}

/** A JSON-like value with every string in it passed through `redact` (objects and arrays copied). */
export function redactDeep<T>(value: T, redact: (text: string) => string): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => redactDeep(item, redact)) as T;
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = redactDeep(item, redact);
    return copy as T;
  }
  return value;
}
