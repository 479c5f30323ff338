// Command-line flags: numbers parsed strictly, unknown flags rejected; errors name the flag, the value
// and what is allowed.
import type { ArgsDef } from "citty";
interface Range {
  min?: number;
  max?: number;
  minExclusive?: boolean;
}

export function numberArg(flag: string, value: unknown, r: Range = {}): number {
  const x = typeof value === "number" ? value : Number(String(value).trim());
  const lo = r.min === undefined ? "" : `${r.minExclusive ? ">" : "≥"} ${r.min}`;
  const hi = r.max === undefined ? "" : `≤ ${r.max}`;
  const want = [lo, hi].filter(Boolean).join(" and ");
  const bad =
    String(value).trim() === "" ||
    !Number.isFinite(x) ||
    (r.min !== undefined && (r.minExclusive ? x <= r.min : x < r.min)) ||
    (r.max !== undefined && x > r.max);
  if (bad) throw new Error(`${flag}: got ${JSON.stringify(value)}; expected a number${want ? ` ${want}` : ""}`);
  return x;
}

export function intArg(flag: string, value: unknown, r: Range = {}): number {
  const x = numberArg(flag, value, r);
  if (!Number.isInteger(x)) throw new Error(`${flag}: got ${JSON.stringify(value)}; expected an integer`);
  return x;
}

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
