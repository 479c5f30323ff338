// Numbers as GSM8K-style answers write them: "1,234", "-5", "$3.50", "18.". Gold answers are checked
// with these when a dataset loads, and completions are read with them (src/eval/extract.ts).

// An optional sign (not after a digit, letter or point), then 1,234-style or plain digits, then decimals.
export const NUMBER = /(?:(?<![\w.])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?/g;

/** A NUMBER match as the shortest string of its value: "1,080" -> "1080", "3.50" -> "3.5". */
export const valueString = (number: string) => String(Number(number.replaceAll(",", "")));

/** The value of a number as written ("1,234", "-5", "$3.50", "18.") as a canonical string ("3.5"), or null if `s` is not one number. */
export function canonicalNumber(s: string): string | null {
  const body = s.trim().replace(/^\$/, "").replace(/\.$/, "");
  const m = body.match(NUMBER);
  return m && m.length === 1 && m[0] === body ? valueString(body) : null;
}
