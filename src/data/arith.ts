// The synthetic task `arith`: seeded multi-step arithmetic word problems in GSM8K's format, small
// enough for the built-in tiny model to learn on a CPU and for LaTRO to measurably improve.
//
// A problem follows one person's stock of one kind of item through a chain of steps, each one
// operation on the running amount: gaining (+), losing (−), multiplying (×) or splitting into equal
// parts (÷, always exact). Distractor sentences add numbers the answer does not use. The rationale
// has one line per step, written as GSM8K writes its solutions, calculator annotation included:
//   "That leaves her with 17 - 5 = <<17-5=12>>12 marbles."
// so a `Problem` here is shaped exactly like one from readGsm8k: `rationale` is the text before
// "#### " (ending in a newline) and `answer` the number after it. Every amount, intermediate or
// final, is an integer in [1, maxValue].
//
// Splits come from one seeded stream of problems, deduplicated by question text: the first 500
// distinct questions are `test`, the next 200 `val`, the next 20,000 `train`. They are disjoint by
// construction, and changing a split's size never changes the splits drawn before it.
//
// Datasets (src/data/registry.ts): `arith` (ARITH_DEFAULTS) and `arith:SPEC`, SPEC the knobs that differ
// from the defaults as `arithOptions` parses them, e.g. `arith:steps=2` or
// `arith:steps=2-3,operand=50,factor=3,value=500,ops=+-,distractors=0`.
import type { Dataset, LatroExample, Problem } from "./example.ts";
import { answerResponse, gsm8kPrompt } from "./prompts.ts";
import { Rng } from "./rng.ts";
import type { Split } from "./split.ts";

export const ARITH_OPS = ["+", "-", "*", "/"] as const;
export type ArithOp = (typeof ARITH_OPS)[number];

/** The difficulty knobs. */
export interface ArithOptions {
  /** Fewest and most steps (rationale lines) per problem; the count is uniform in between. */
  readonly minSteps: number;
  readonly maxSteps: number;
  /** Amounts gained or lost are drawn from [1, maxOperand], starting amounts (or amounts per container) from [2, maxOperand]. */
  readonly maxOperand: number;
  /** Multipliers, divisors and numbers of containers are drawn from [2, maxFactor]. */
  readonly maxFactor: number;
  /** No amount of the item, intermediate or final, exceeds this. */
  readonly maxValue: number;
  /** The operations steps may use; a step picks uniformly among those its running amount allows. */
  readonly ops: readonly ArithOp[];
  /** Each problem gets a uniform number in [0, maxDistractors] of sentences with irrelevant numbers. */
  readonly maxDistractors: number;
}

export const ARITH_DEFAULTS: ArithOptions = {
  minSteps: 1,
  maxSteps: 3,
  maxOperand: 20,
  maxFactor: 5,
  maxValue: 200,
  ops: ARITH_OPS,
  maxDistractors: 1,
};

/** Problems per split, drawn in this order from the one stream. */
export const ARITH_SPLIT_SIZES = { test: 500, val: 200, train: 20_000 } as const satisfies Record<Split, number>;
/** Seed of the problem stream; fixed so that every run sees the same splits. */
export const ARITH_SEED = 20250101;

// ---- Options ------------------------------------------------------------------------------------

/** `options` checked; errors name the field, its value and what is allowed. */
export function checkArithOptions(options: ArithOptions): ArithOptions {
  const int = (field: keyof ArithOptions, min: number) => {
    const x = options[field];
    if (!Number.isSafeInteger(x) || (x as number) < min) {
      throw new Error(`arith: ${field} must be an integer ≥ ${min}, got ${JSON.stringify(x)}`);
    }
  };
  int("minSteps", 1);
  int("maxSteps", options.minSteps);
  int("maxOperand", 2);
  int("maxFactor", 2);
  int("maxValue", options.maxOperand);
  int("maxDistractors", 0);
  const ops = options.ops;
  if (!Array.isArray(ops) || ops.length === 0 || new Set(ops).size !== ops.length || !ops.every((op) => (ARITH_OPS as readonly string[]).includes(op))) {
    throw new Error(`arith: ops must be a non-empty list of distinct operations from ${ARITH_OPS.join(" ")}, got ${JSON.stringify(ops)}`);
  }
  return options;
}

const SPEC_KEYS = ["steps", "operand", "factor", "value", "ops", "distractors"] as const;

/**
 * The options a spec such as "steps=2", "steps=1-3,ops=+-" or "operand=50,distractors=0" describes:
 * comma-separated `key=value` pairs over ARITH_DEFAULTS. Keys: steps (N or MIN-MAX), operand
 * (maxOperand), factor (maxFactor), value (maxValue), ops (characters of + - * /), distractors
 * (maxDistractors). An empty spec gives the defaults.
 */
export function arithOptions(spec: string): ArithOptions {
  const o: { -readonly [K in keyof ArithOptions]: ArithOptions[K] } = { ...ARITH_DEFAULTS };
  for (const pair of spec === "" ? [] : spec.split(",")) {
    const [key, value, extra] = pair.split("=");
    const bad = (expected: string) => new Error(`arith spec "${spec}": ${pair} must be ${expected}`);
    if (value === undefined || extra !== undefined || !(SPEC_KEYS as readonly string[]).includes(key)) {
      throw bad(`key=value with key one of ${SPEC_KEYS.join(", ")}`);
    }
    if (key === "steps") {
      const m = /^(\d+)(?:-(\d+))?$/.exec(value);
      if (!m) throw bad("steps=N or steps=MIN-MAX");
      o.minSteps = Number(m[1]);
      o.maxSteps = Number(m[2] ?? m[1]);
    } else if (key === "ops") {
      o.ops = [...value] as ArithOp[];
    } else {
      if (!/^\d+$/.test(value)) throw bad(`${key}=N with N a non-negative integer`);
      const n = Number(value);
      if (key === "operand") o.maxOperand = n;
      else if (key === "factor") o.maxFactor = n;
      else if (key === "value") o.maxValue = n;
      else o.maxDistractors = n;
    }
  }
  return checkArithOptions(o);
}

// ---- Story material -----------------------------------------------------------------------------

interface Person {
  readonly name: string;
  /** Subject, object, possessive and reflexive pronouns. */
  readonly he: string;
  readonly him: string;
  readonly his: string;
  readonly himself: string;
}

const he = (name: string): Person => ({ name, he: "he", him: "him", his: "his", himself: "himself" });
const she = (name: string): Person => ({ name, he: "she", him: "her", his: "her", himself: "herself" });

const PEOPLE: readonly Person[] = [
  ...["Tom", "James", "Ali", "Carlos", "Ben", "Omar", "Lucas", "Ravi", "Sam", "Kenji", "Mark", "Leo", "Ivan", "David", "Noah"].map(he),
  ...["Anna", "Maria", "Lily", "Sara", "Mei", "Emma", "Fatima", "Julia", "Grace", "Nina", "Zoe", "Priya", "Olivia", "Rosa", "Hana"].map(she),
];

interface Item {
  readonly singular: string;
  readonly plural: string;
  /** What holds equal numbers of them, for "3 boxes with 6 pencils in each". */
  readonly container: string;
  /** Verbs (third person present) for gaining some and for losing some. */
  readonly gain: readonly string[];
  readonly loss: readonly string[];
}

const ITEMS: readonly Item[] = [
  { singular: "apple", plural: "apples", container: "baskets", gain: ["picks", "buys"], loss: ["eats", "sells"] },
  { singular: "coin", plural: "coins", container: "jars", gain: ["finds", "earns"], loss: ["spends", "loses"] },
  { singular: "marble", plural: "marbles", container: "bags", gain: ["wins", "buys"], loss: ["loses", "gives away"] },
  { singular: "sticker", plural: "stickers", container: "sheets", gain: ["buys", "gets"], loss: ["uses", "gives away"] },
  { singular: "pencil", plural: "pencils", container: "boxes", gain: ["buys", "finds"], loss: ["loses", "gives away"] },
  { singular: "cookie", plural: "cookies", container: "trays", gain: ["bakes", "buys"], loss: ["eats", "sells"] },
  { singular: "book", plural: "books", container: "shelves", gain: ["buys", "borrows"], loss: ["donates", "sells"] },
  { singular: "shell", plural: "shells", container: "buckets", gain: ["collects", "finds"], loss: ["loses", "gives away"] },
  { singular: "card", plural: "cards", container: "packs", gain: ["buys", "wins"], loss: ["trades away", "loses"] },
  { singular: "egg", plural: "eggs", container: "cartons", gain: ["collects", "buys"], loss: ["uses", "sells"] },
  { singular: "flower", plural: "flowers", container: "bunches", gain: ["picks", "buys"], loss: ["gives away", "sells"] },
  { singular: "balloon", plural: "balloons", container: "bags", gain: ["buys", "gets"], loss: ["pops", "gives away"] },
  { singular: "stamp", plural: "stamps", container: "albums", gain: ["collects", "buys"], loss: ["trades away", "gives away"] },
  { singular: "bead", plural: "beads", container: "jars", gain: ["buys", "finds"], loss: ["uses", "loses"] },
  { singular: "candy", plural: "candies", container: "bags", gain: ["buys", "gets"], loss: ["eats", "gives away"] },
  { singular: "toy car", plural: "toy cars", container: "boxes", gain: ["buys", "gets"], loss: ["gives away", "sells"] },
];

const RELATIVES = ["brother", "sister", "cousin", "aunt", "uncle", "neighbor"];
const FRACTIONS: Record<number, string> = { 2: "half", 3: "one third", 4: "one quarter", 5: "one fifth" };

/** What one sentence may mention: the protagonist, someone else, the item, one number and words drawn for it. */
interface Slots {
  readonly p: Person;
  readonly friend: Person;
  readonly item: Item;
  readonly n: number;
  readonly gain: string;
  readonly loss: string;
  readonly relative: string;
}
type Template = (s: Slots) => string;

/** The item's name for `n` of them. */
const noun = (n: number, item: Item) => (n === 1 ? item.singular : item.plural);
/** `s` with its first letter capitalized, for pronouns that start a sentence. */
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/** Question sentences for each operation; `n` is the amount or the factor. */
const STEP_TEXT: Record<ArithOp, readonly Template[]> = {
  "+": [
    (s) => `${cap(s.p.he)} ${s.gain} ${s.n} more ${noun(s.n, s.item)}.`,
    (s) => `${s.friend.name} gives ${s.p.him} ${s.n} more ${noun(s.n, s.item)}.`,
    (s) => `The next day, ${s.p.he} ${s.gain} ${s.n} more ${noun(s.n, s.item)}.`,
  ],
  "-": [
    (s) => `${cap(s.p.he)} ${s.loss} ${s.n} ${noun(s.n, s.item)}.`,
    (s) => `${cap(s.p.he)} gives ${s.n} ${noun(s.n, s.item)} to ${s.friend.name}.`,
    (s) => `Later, ${s.p.he} ${s.loss} ${s.n} of ${s.p.his} ${s.item.plural}.`,
  ],
  "*": [
    (s) => `After a month, ${s.p.he} has ${s.n} times as many ${s.item.plural} as before.`,
    (s) => `${s.friend.name} gives ${s.p.him} enough ${s.item.plural} to make ${s.n} times as many as ${s.p.he} had.`,
  ],
  "/": [
    (s) => `${cap(s.p.he)} puts ${s.p.his} ${s.item.plural} into ${s.n} equal groups and keeps one group.`,
    (s) => `${cap(s.p.he)} shares ${s.p.his} ${s.item.plural} equally among ${s.n} people, ${s.p.himself} included, and keeps ${s.p.his} share.`,
    (s) =>
      s.n in FRACTIONS
        ? `${cap(s.p.he)} keeps ${FRACTIONS[s.n]} of ${s.p.his} ${s.item.plural} and gives the rest to ${s.friend.name}.`
        : `${cap(s.p.he)} splits ${s.p.his} ${s.item.plural} into ${s.n} equal piles and keeps one pile.`,
  ],
};

/** Rationale lines for each operation; `e` is the annotated expression with its unit, e.g. "4 + 5 = <<4+5=9>>9 apples". */
const STEP_RATIONALE: Record<ArithOp, readonly ((s: Slots, e: string) => string)[]> = {
  "+": [(s, e) => `${s.p.name} now has ${e}.`, (s, e) => `After that, ${s.p.he} has ${e}.`],
  "-": [(s, e) => `${s.p.name} has ${e} left.`, (s, e) => `That leaves ${s.p.him} with ${e}.`],
  "*": [(s, e) => `${s.p.name} now has ${e}.`, (s, e) => `That makes ${e}.`],
  "/": [(s, e) => `${s.p.name} keeps ${e}.`, (s, e) => `That leaves ${s.p.him} with ${e}.`],
};

const QUESTIONS: readonly Template[] = [
  (s) => `How many ${s.item.plural} does ${s.p.name} have now?`,
  (s) => `How many ${s.item.plural} does ${s.p.name} have in the end?`,
];

const DISTRACTORS: readonly Template[] = [
  (s) => `${s.friend.name} has ${s.n} ${noun(s.n, s.item)}.`,
  (s) => `${s.p.name}'s ${s.relative} is ${s.n + 5} years old.`,
  (s) => `${s.p.name} is ${s.n + 5} years old.`,
  (s) => `The store is ${s.n} miles from ${s.p.name}'s house.`,
];

// ---- Generation ---------------------------------------------------------------------------------

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
/** Uniform integer in [lo, hi]. */
const uniform = (rng: Rng, lo: number, hi: number) => lo + rng.int(hi - lo + 1);

const annotate = (x: number, op: ArithOp, y: number, r: number) => `${x} ${op} ${y} = <<${x}${op}${y}=${r}>>${r}`;

/** The result of `x op y`, or null when it is not an integer in [1, maxValue]. */
function apply(x: number, op: ArithOp, y: number, maxValue: number): number | null {
  const r = op === "+" ? x + y : op === "-" ? x - y : op === "*" ? x * y : x % y === 0 ? x / y : NaN;
  return Number.isInteger(r) && r >= 1 && r <= maxValue ? r : null;
}

/** The operands `y` with which `x op y` stays valid under `o`. */
function operands(x: number, op: ArithOp, o: ArithOptions): number[] {
  const [lo, hi] = op === "+" || op === "-" ? [1, o.maxOperand] : [2, o.maxFactor];
  const ys: number[] = [];
  for (let y = lo; y <= hi; y++) if (apply(x, op, y, o.maxValue) !== null) ys.push(y);
  return ys;
}

/**
 * One problem drawn from `rng`, or null when the drawn chain reaches an amount no allowed operation
 * can continue from (the caller draws again).
 */
export function generateArithProblem(rng: Rng, o: ArithOptions): Omit<Problem, "id"> | null {
  const p = pick(rng, PEOPLE);
  const others = PEOPLE.filter((q) => q !== p);
  const item = pick(rng, ITEMS);
  const slots = (n: number): Slots => ({
    p,
    friend: pick(rng, others),
    item,
    n,
    gain: pick(rng, item.gain),
    loss: pick(rng, item.loss),
    relative: pick(rng, RELATIVES),
  });
  const steps = uniform(rng, o.minSteps, o.maxSteps);

  const story: string[] = [];
  const rationale: string[] = [];
  let value: number;
  let done = 0;
  // A quarter of the problems that may multiply start from equal containers, itself a × step.
  if (o.ops.includes("*") && rng.int(4) === 0) {
    const count = uniform(rng, 2, o.maxFactor);
    const each = uniform(rng, 2, o.maxOperand);
    const r = apply(count, "*", each, o.maxValue);
    if (r === null) return null;
    story.push(`${p.name} has ${count} ${item.container} with ${each} ${item.plural} in each.`);
    rationale.push(`${p.name} starts with ${annotate(count, "*", each, r)} ${noun(r, item)}.`);
    value = r;
    done = 1;
  } else {
    value = uniform(rng, 2, o.maxOperand);
    story.push(`${p.name} has ${value} ${item.plural}.`);
  }
  for (; done < steps; done++) {
    const choices = o.ops.map((op) => ({ op, ys: operands(value, op, o) })).filter((c) => c.ys.length > 0);
    if (choices.length === 0) return null;
    const { op, ys } = pick(rng, choices);
    const y = pick(rng, ys);
    const r = apply(value, op, y, o.maxValue)!;
    const s = slots(y);
    story.push(pick(rng, STEP_TEXT[op])(s));
    rationale.push(pick(rng, STEP_RATIONALE[op])(s, `${annotate(value, op, y, r)} ${noun(r, item)}`));
    value = r;
  }
  const distractors = uniform(rng, 0, o.maxDistractors);
  for (let i = 0; i < distractors; i++) {
    const sentence = pick(rng, DISTRACTORS)(slots(uniform(rng, 1, o.maxOperand)));
    story.splice(uniform(rng, 1, story.length), 0, sentence);
  }
  story.push(pick(rng, QUESTIONS)(slots(0)));
  return { question: story.join(" "), rationale: `${rationale.join("\n")}\n`, answer: String(value) };
}

/**
 * The problems of one split of the task with options `o`, ids "{name}/{split}/{index}". Draws the
 * stream up to the end of that split (see header).
 */
export function arithProblems(split: Split, o: ArithOptions = ARITH_DEFAULTS, name = "arith"): Problem[] {
  checkArithOptions(o);
  const order: readonly Split[] = ["test", "val", "train"];
  const start = order.slice(0, order.indexOf(split)).reduce((n, s) => n + ARITH_SPLIT_SIZES[s], 0);
  const end = start + ARITH_SPLIT_SIZES[split];
  const rng = new Rng(ARITH_SEED);
  const seen = new Set<string>();
  const out: Problem[] = [];
  const maxDraws = 50 * end;
  for (let draws = 0; seen.size < end; draws++) {
    if (draws === maxDraws) {
      throw new Error(
        `arith: only ${seen.size} distinct problems in ${maxDraws} draws, ${end} needed for split "${split}"; options ${JSON.stringify(o)} allow too few (raise maxOperand, maxSteps or ops)`,
      );
    }
    const problem = generateArithProblem(rng, o);
    if (problem === null || seen.has(problem.question)) continue;
    seen.add(problem.question);
    if (seen.size > start) out.push({ id: `${name}/${split}/${out.length}`, ...problem });
  }
  return out;
}

/** The dataset `name` (e.g. "arith" or "arith:steps=2") for options `o`, prompted as GSM8K is. */
export function arithDataset(split: Split, o: ArithOptions = ARITH_DEFAULTS, name = "arith"): Dataset {
  const examples: LatroExample[] = arithProblems(split, o, name).map((p) => ({
    id: p.id,
    query: gsm8kPrompt(p, false),
    response: answerResponse(p.answer),
    groundtruth: p.answer,
  }));
  return { name, split, answerKind: "number", examples };
}

export const ARITH_PREFIX = "arith:";

/** The options of the dataset called `name`: the defaults for "arith", the spec's for "arith:SPEC", else undefined. */
export function arithOptionsOf(name: string): ArithOptions | undefined {
  if (name === "arith") return ARITH_DEFAULTS;
  return name.startsWith(ARITH_PREFIX) ? arithOptions(name.slice(ARITH_PREFIX.length)) : undefined;
}
