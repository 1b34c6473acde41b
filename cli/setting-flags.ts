/**
 * Enroll settings on the command line. The options of `enroll` and `eval`
 * are built from ENROLL_SETTING_FLAGS (config/enroll.ts) and the enroll
 * schema, and their values are laid over the config file's settings, so an
 * invalid value is reported by the flag the technician typed.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { ENROLL_SETTING_FLAGS, enrollSettingsSchema, type EnrollSettingFlag, type EnrollSettingPath, type EnrollSettings } from '../config/enroll.ts';
import { ConfigError, parseOrThrow } from '../config/errors.ts';

/** How a flag's text becomes the setting's value. */
export type FlagValueKind = { kind: 'number' } | { kind: 'text' } | { kind: 'list' } | { kind: 'choice'; options: string[] };

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}

/** The schema of the setting a path names, its default and optionality taken off. */
function settingSchema(path: EnrollSettingPath): z.ZodType {
  let schema: z.ZodType = enrollSettingsSchema;
  for (const key of path) {
    const object = unwrap(schema);
    if (!(object instanceof z.ZodObject) || !(key in object.shape)) throw new Error(`enroll settings have no "${path.join('.')}"`);
    schema = object.shape[key] as z.ZodType;
  }
  return unwrap(schema);
}

/** The kind of value a setting takes, read from the enroll schema. */
export function flagValueKind(path: EnrollSettingPath): FlagValueKind {
  const schema = settingSchema(path);
  if (schema instanceof z.ZodNumber) return { kind: 'number' };
  if (schema instanceof z.ZodArray) return { kind: 'list' };
  if (schema instanceof z.ZodEnum) return { kind: 'choice', options: schema.options.map(String) };
  if (schema instanceof z.ZodString) return { kind: 'text' };
  throw new Error(`enroll setting "${path.join('.')}" has no command-line form`);
}

/** The flag's text as the setting's value (numbers and lists are checked by the schema afterwards). */
export function flagValue(kind: FlagValueKind, text: unknown): unknown {
  if (kind.kind === 'number') return Number(text);
  if (kind.kind === 'list') return String(text).split(',').map((s) => s.trim()).filter(Boolean);
  return text;
}

function settingOption(entry: EnrollSettingFlag): Option {
  const option = new Option(entry.flag, entry.help);
  const kind = flagValueKind(entry.setting);
  return kind.kind === 'choice' && entry.choices !== false ? option.choices(kind.options) : option;
}

/** Adds a flag for every entry of ENROLL_SETTING_FLAGS to a command. */
export function addEnrollSettingFlags(cmd: Command): Command {
  for (const entry of ENROLL_SETTING_FLAGS) cmd.addOption(settingOption(entry));
  return cmd;
}

function withSetting(settings: Record<string, unknown>, path: EnrollSettingPath, value: unknown): Record<string, unknown> {
  if (path.length === 1) return { ...settings, [path[0]]: value };
  const [section, key] = path;
  return { ...settings, [section]: { ...(settings[section] as object), [key]: value } };
}

/**
 * The config file's enroll settings with the given flags laid over them,
 * validated; an invalid flag value is reported as `--flag: what is wrong`.
 */
export function enrollSettingsFromFlags(base: EnrollSettings, flags: Record<string, unknown>): EnrollSettings {
  const given = ENROLL_SETTING_FLAGS.map((entry) => ({ entry, option: new Option(entry.flag) })).filter(({ option }) => flags[option.attributeName()] !== undefined);
  let merged: Record<string, unknown> = { ...base };
  for (const { entry, option } of given) merged = withSetting(merged, entry.setting, flagValue(flagValueKind(entry.setting), flags[option.attributeName()]));
  try {
    return parseOrThrow(enrollSettingsSchema, merged, 'settings');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    let message = err.message;
    for (const { entry, option } of given) message = message.replace(`key "${entry.setting.join('.')}"`, option.long ?? entry.flag);
    throw new ConfigError(message);
  }
}
