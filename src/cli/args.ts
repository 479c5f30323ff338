// Command-line flags: numbers parsed strictly (by the same valibot schemas as config fields), unknown
// flags rejected; errors name the flag, the value and what is allowed.
import type { ArgsDef } from "citty";
import { integerIn, numberIn, parseField, type Range } from "../train/fields.ts";
/** A number flag, parsed by the schema every config field uses (src/train/fields.ts). */
export const numberArg = (flag: string, value: unknown, r: Range = {}): number => parseField(flag, value, numberIn(r));

/** An integer flag, parsed by the schema every config field uses (src/train/fields.ts). */
export const intArg = (flag: string, value: unknown, r: Range = {}): number => parseField(flag, value, integerIn(r));

/** The flag of an option's camelCase name: learningRate → --learning-rate. */
export const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function stringArg(flag: string, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") throw new Error(`${flag}: got ${JSON.stringify(value)}; expected a non-empty value`);
  return value;
}

/**
 * Rejects what citty lets through silently: flags that are not declared (citty reads `--nope 3` as
 * the boolean --nope and a stray "3") and positional arguments.
 */
export function checkFlags(args: Record<string, unknown>, defs: ArgsDef): void {
  const known = new Set(Object.keys(defs).flatMap((k) => [k, k.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())]));
  for (const key of Object.keys(args)) {
    if (key !== "_" && !known.has(key)) throw new Error(`unknown flag --${key}; expected one of ${Object.keys(defs).map((k) => `--${k}`).join(", ")}`);
  }
  const rest = args._ as unknown[] | undefined;
  if (rest && rest.length > 0) {
    throw new Error(`unexpected argument ${JSON.stringify(String(rest[0]))} (flags take the form --name value; boolean flags take no value: --eval, --no-eval)`);
  }
}
