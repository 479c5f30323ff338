// Field schemas (valibot) shared by every configuration and command-line flag: the training configs
// (YAML and flags alike) and the plain flags of eval, generate, sft and build-base-model. Values may
// come as text ("5e-7", "true", '["Answer:"]' or "1,2"), so one schema serves a YAML file and a
// command line. Each schema's message says what is allowed ("an integer ≥ 1", "a number in [0, 1)").
import * as v from "valibot";

const NUMBER_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;
const numberFromText = v.transform((x: unknown) => (typeof x === "string" && NUMBER_TEXT.test(x) ? Number(x) : x));
const booleanFromText = v.transform((x: unknown) => (x === "true" ? true : x === "false" ? false : x));
/** A JSON array, or comma-separated items (numbers where they parse as numbers). */
export const listFromText = v.transform((x: unknown) => {
  if (typeof x !== "string") return x;
  const text = x.trim();
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return x;
    }
  }
  return text === "" ? [] : text.split(",").map((item) => (NUMBER_TEXT.test(item) ? Number(item) : item));
});

/** Bounds of a number; each end inclusive unless said otherwise. */
export interface Range {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

function describe(kind: string, r: Range): string {
  const { min, max } = r;
  if (min !== undefined && max !== undefined) return `${kind} in ${r.minExclusive ? "(" : "["}${min}, ${max}${r.maxExclusive ? ")" : "]"}`;
  if (min !== undefined) return `${kind} ${r.minExclusive ? ">" : "≥"} ${min}`;
  if (max !== undefined) return `${kind} ${r.maxExclusive ? "<" : "≤"} ${max}`;
  return kind;
}

/** A finite number within `r`; `allowed` replaces the message that says so. */
export function numberIn(r: Range = {}, allowed = describe("a number", r)) {
  return v.pipe(v.unknown(), numberFromText, v.number(allowed), v.finite(allowed), v.check((x) => inRange(x, r), allowed));
}

/** An integer within `r`. */
export function integerIn(r: Range = {}) {
  const allowed = describe("an integer", r);
  return v.pipe(v.unknown(), numberFromText, v.number(allowed), v.integer(allowed), v.check((x) => inRange(x, r), allowed));
}

function inRange(x: number, r: Range): boolean {
  if (r.min !== undefined && (r.minExclusive ? x <= r.min : x < r.min)) return false;
  return !(r.max !== undefined && (r.maxExclusive ? x >= r.max : x > r.max));
}

export function flag() {
  return v.pipe(v.unknown(), booleanFromText, v.boolean("true or false"));
}

export function text(what: string) {
  const allowed = `a non-empty string (${what})`;
  return v.pipe(v.unknown(), v.string(allowed), v.minLength(1, allowed));
}

export function choice<const T extends readonly string[]>(options: T) {
  return v.pipe(v.unknown(), v.picklist(options, `one of ${options.join(", ")}`));
}

/**
 * `value` parsed by `schema`, or an error "WHERE: got VALUE; expected WHAT" (WHERE names the flag or
 * field).
 */
export function parseField<S extends v.GenericSchema>(where: string, value: unknown, schema: S): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw new Error(`${where}: got ${JSON.stringify(value)}; expected ${result.issues[0].message}`);
  return result.output;
}
