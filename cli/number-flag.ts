/** Numeric command-line flags, checked with a message that names the flag. */
import { ConfigError } from '../config/errors.ts';

/** A numeric flag, or a ConfigError naming it. */
export function numberFlag(flag: string, value: string, range: { integer?: boolean; min?: number; max?: number; exclusiveMin?: boolean }): number {
  const v = Number(value);
  const { integer, min, max, exclusiveMin } = range;
  const ok = value.trim() !== '' && Number.isFinite(v) && (!integer || Number.isInteger(v)) && (min === undefined || (exclusiveMin ? v > min : v >= min)) && (max === undefined || v <= max);
  if (ok) return v;
  const want = [integer ? 'a whole number' : 'a number', min !== undefined ? `${exclusiveMin ? 'above' : 'at least'} ${min}` : '', max !== undefined ? `at most ${max}` : ''].filter(Boolean).join(', ');
  throw new ConfigError(`${flag} "${value}": use ${want}`);
}
