// Answer extraction and equivalence.
//
// LaTRO trains the model to end with y = "The answer is {groundtruth}." (src/utils/data_utils.py), so
// extraction looks for that marker first. The original's `src/utils/eval_utils.py` was not available
// to this port; the rules below follow its README ("answer extraction and evaluation") and common
// GSM8K / ARC practice:
//
// - An answer span is the rest of the line after each "The answer is" (case-insensitive). Spans are
//   tried first to last and the first that yields an answer wins, so a model that answers and then
//   goes on to invent a new few-shot "Q: ... The answer is" is still read correctly.
// - `number` (GSM8K): the first number in a span, else the last number anywhere in the completion.
//   Thousands commas and "$" are dropped; "3.50" equals "3.5"; a "-" directly after a digit or letter
//   is an operator, not a sign. Numbers compare by value, through a canonical string.
// - `choice` (ARC): the span names an option by its full text, else by its label ("C", "(C)",
//   "C) ...", "C. ..."), else as the only option whose text it contains. No span, no answer.
// - `text`: the span itself, lower-cased with whitespace collapsed and final periods dropped.
import type { AnswerKind, Choice } from "../data/example.ts";
import { canonicalNumber, NUMBER, valueString } from "../data/number.ts";

export const ANSWER_MARKER = "The answer is";

const MARKER = new RegExp(ANSWER_MARKER, "gi");

/** The answer spans of a completion: the rest of the line after each answer marker, in order. */
export function answerSpans(completion: string): string[] {
  return [...completion.matchAll(MARKER)].map((m) => {
    const rest = completion.slice(m.index + m[0].length);
    const eol = rest.indexOf("\n");
    return eol < 0 ? rest : rest.slice(0, eol);
  });
}

/** GSM8K: the canonical number answered, or null if the completion has no number at all. */
export function extractNumber(completion: string): string | null {
  for (const span of answerSpans(completion)) {
    const first = span.match(NUMBER)?.[0];
    if (first !== undefined) return valueString(first);
  }
  const all = completion.match(NUMBER);
  return all ? valueString(all[all.length - 1]) : null;
}

/** ARC: the text of the option answered (as written in `choices`), or null. */
export function extractChoice(completion: string, choices: readonly Choice[]): string | null {
  for (const span of answerSpans(completion)) {
    const chosen = matchChoice(span, choices);
    if (chosen !== null) return chosen.text;
  }
  return null;
}

/** Free text: the normalized first non-empty answer span, or null. */
export function extractText(completion: string): string | null {
  for (const span of answerSpans(completion)) {
    const text = normalizeText(span);
    if (text !== "") return text;
  }
  return null;
}

/** The completion's answer in canonical form for `kind` (comparable with `===` across samples), or null. */
export function extractAnswer(completion: string, kind: AnswerKind, choices?: readonly Choice[]): string | null {
  switch (kind) {
    case "number":
      return extractNumber(completion);
    case "choice":
      if (!choices) throw new Error(`extractAnswer: kind "choice" needs the question's choices`);
      return extractChoice(completion, choices);
    case "text":
      return extractText(completion);
  }
}

/** Whether an extracted answer (from `extractAnswer`) equals the groundtruth under `kind`. */
export function isCorrect(extracted: string | null, groundtruth: string, kind: AnswerKind): boolean {
  if (extracted === null) return false;
  if (kind === "number") {
    const gold = canonicalNumber(groundtruth);
    if (gold === null) throw new Error(`isCorrect: groundtruth must be a number for kind "number", got "${groundtruth}"`);
    return extracted === gold;
  }
  return normalizeText(extracted) === normalizeText(groundtruth);
}

/** Lower case, whitespace collapsed, a leading colon and surrounding quotes, asterisks and final periods removed. */
export function normalizeText(s: string): string {
  return s
    .replace(/\s+/g, " ")
    .replace(/^[:\s*"'`]+|[\s*"'`.]+$/g, "")
    .toLowerCase();
}

// A label at the start of the span: "(C)" before anything, "C)" "C." "C:" before a space, or "C" alone.
// Letter labels only in upper case, so the article in "a planet's core" is not read as label A.
const LABEL = /^(?:\(([A-Z]|\d)\)|([A-Z]|\d)(?:[).:](?=\s|$)|$))/;

function matchChoice(span: string, choices: readonly Choice[]): Choice | null {
  const text = normalizeText(span);
  if (text === "") return null;
  const exact = choices.find((c) => normalizeText(c.text) === text);
  if (exact) return exact;
  const m = span.replace(/^[:\s*"'`]+|[\s*"'`.]+$/g, "").match(LABEL);
  const label = m?.[1] ?? m?.[2];
  const byLabel = choices.find((c) => c.label === label);
  if (byLabel) return byLabel;
  const contained = choices.filter((c) => containsPhrase(text, normalizeText(c.text)));
  return contained.length === 1 ? contained[0] : null;
}

/** Whether `phrase` occurs in `text` between non-alphanumeric characters (so option "1" is not found in "10"). */
function containsPhrase(text: string, phrase: string): boolean {
  if (phrase === "") return false;
  for (let i = text.indexOf(phrase); i >= 0; i = text.indexOf(phrase, i + 1)) {
    const before = text[i - 1] ?? " ";
    const after = text[i + phrase.length] ?? " ";
    if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after)) return true;
  }
  return false;
}
