/** Numbers as the CLI prints them: fixed digits, `-` for a value that is not a number. */

export const fmt = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');
