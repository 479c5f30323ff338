import { describe, expect, test } from "bun:test";
import type { Choice } from "../../src/data/example.ts";
import { readGsm8k } from "../../src/data/gsm8k.ts";
import { canonicalNumber } from "../../src/data/number.ts";
import { loadDataset } from "../../src/data/registry.ts";
import {
  answerSpans,
  extractAnswer,
  extractChoice,
  extractNumber,
  extractText,
  isCorrect,
} from "../../src/eval/extract.ts";

describe("canonicalNumber", () => {
  test("reads GSM8K-style numbers to one canonical string per value", () => {
    expect(canonicalNumber("72")).toBe("72");
    expect(canonicalNumber("1,234")).toBe("1234");
    expect(canonicalNumber("109,200,000")).toBe("109200000");
    expect(canonicalNumber("-5")).toBe("-5");
    expect(canonicalNumber("3.50")).toBe("3.5");
    expect(canonicalNumber("$18")).toBe("18");
    expect(canonicalNumber("18.")).toBe("18");
    expect(canonicalNumber(" 007 ")).toBe("7");
  });

  test("rejects anything that is not exactly one number", () => {
    for (const s of ["", "abc", "1 2", "- 5", "12a", "3/4", "1,2345"]) expect(canonicalNumber(s)).toBeNull();
  });
});

describe("extractNumber", () => {
  test("takes the first number after 'The answer is'", () => {
    expect(extractNumber("She sells 16 - 3 - 4 = 9 eggs for $2 each. The answer is 18.")).toBe("18");
    expect(extractNumber("So the answer is $18.")).toBe("18");
    expect(extractNumber("The answer is: 1,234 apples.")).toBe("1234");
    expect(extractNumber("The answer is -3.")).toBe("-3");
    expect(extractNumber("THE ANSWER IS 3.50 dollars")).toBe("3.5");
  });

  test("reads the first answer, not a few-shot exemplar the model invents afterwards", () => {
    expect(extractNumber("The answer is 18.\n\nQ: Tom has 3 apples and eats 2.\nA: 3 - 2 = 1. The answer is 1.")).toBe("18");
  });

  test("skips an answer line without a number", () => {
    expect(extractNumber("The answer is below.\n5 + 5 = 10\nThe answer is 10.")).toBe("10");
  });

  test("falls back to the last number of the completion", () => {
    expect(extractNumber("She earns 12 + 6 = 18 dollars. The answer is eighteen.")).toBe("18");
    expect(extractNumber("12 + 6 = 18")).toBe("18");
    expect(extractNumber("In total 1,234,567 people.")).toBe("1234567");
  });

  test("reads a minus after a digit as an operator and elsewhere as a sign", () => {
    expect(extractNumber("5-3=2")).toBe("2");
    expect(extractNumber("10 - 12 = -2")).toBe("-2");
    expect(extractNumber("x-4")).toBe("4");
  });

  test("returns null when there is no number at all", () => {
    expect(extractNumber("I cannot solve this.")).toBeNull();
    expect(extractNumber("")).toBeNull();
  });
});

test("answerSpans are the rest of each marker's line", () => {
  expect(answerSpans("the answer is 4.\nThe answer is 5")).toEqual([" 4.", " 5"]);
  expect(answerSpans("no marker")).toEqual([]);
});

const palms: Choice[] = [
  { label: "A", text: "dry palms" },
  { label: "B", text: "wet palms" },
  { label: "C", text: "palms covered with oil" },
  { label: "D", text: "palms covered with lotion" },
];

describe("extractChoice", () => {
  test("matches an option's full text, whatever the case and punctuation", () => {
    expect(extractChoice("Friction on dry skin is highest. The answer is dry palms.", palms)).toBe("dry palms");
    expect(extractChoice("The answer is **Wet Palms**", palms)).toBe("wet palms");
    expect(extractChoice("The answer is: 'palms covered with oil'.", palms)).toBe("palms covered with oil");
  });

  test("matches an option's label", () => {
    expect(extractChoice("The answer is C.", palms)).toBe("palms covered with oil");
    expect(extractChoice("The answer is (D) palms with lotion.", palms)).toBe("palms covered with lotion");
    expect(extractChoice("The answer is B) wet.", palms)).toBe("wet palms");
  });

  test("matches the only option whose text the answer contains", () => {
    expect(extractChoice("The answer is dry palms, because water lubricates.", palms)).toBe("dry palms");
    expect(extractChoice("The answer is dry palms, not wet palms.", palms)).toBeNull();
    expect(extractChoice("The answer is palms.", palms)).toBeNull();
  });

  test("does not read the article 'a' as label A", () => {
    const choices: Choice[] = [
      { label: "A", text: "a planet's core temperature" },
      { label: "B", text: "a star's mass" },
    ];
    expect(extractChoice("The answer is a star's mass.", choices)).toBe("a star's mass");
    expect(extractChoice("The answer is a guess.", choices)).toBeNull();
  });

  test("resolves numeric labels '1'..'4' and numeric option texts", () => {
    const numbered: Choice[] = [
      { label: "1", text: "breaks easily when struck with a hammer" },
      { label: "2", text: "bubbles when acid is placed on it" },
      { label: "3", text: "is easily scratched by a fingernail" },
      { label: "4", text: "reflects light from its surface" },
    ];
    expect(extractChoice("The answer is 2.", numbered)).toBe("bubbles when acid is placed on it");
    expect(extractChoice("The answer is (4)", numbered)).toBe("reflects light from its surface");
    const amounts: Choice[] = [
      { label: "A", text: "1" },
      { label: "B", text: "2" },
      { label: "C", text: "10" },
      { label: "D", text: "20" },
    ];
    expect(extractChoice("The answer is 10.", amounts)).toBe("10");
    expect(extractChoice("The answer is 10 meters.", amounts)).toBe("10");
  });

  test("handles 3- and 5-choice questions", () => {
    const three = palms.slice(0, 3);
    expect(extractChoice("The answer is C", three)).toBe("palms covered with oil");
    expect(extractChoice("The answer is D", three)).toBeNull();
    const five = [...palms, { label: "E", text: "gloved palms" }];
    expect(extractChoice("The answer is E.", five)).toBe("gloved palms");
  });

  test("needs the answer marker", () => {
    expect(extractChoice("I would pick dry palms.", palms)).toBeNull();
  });
});

describe("isCorrect", () => {
  test("compares numbers by value", () => {
    expect(isCorrect("3.5", "3.50", "number")).toBe(true);
    expect(isCorrect(extractNumber("The answer is 1,080."), "1,080", "number")).toBe(true);
    expect(isCorrect("18", "18.0", "number")).toBe(true);
    expect(isCorrect("-7", "-7", "number")).toBe(true);
    expect(isCorrect("17", "18", "number")).toBe(false);
    expect(isCorrect(null, "18", "number")).toBe(false);
  });

  test("names a groundtruth that is not a number", () => {
    expect(() => isCorrect("1", "one", "number")).toThrow('groundtruth must be a number for kind "number", got "one"');
  });

  test("compares options and text after normalization", () => {
    expect(isCorrect("Dry palms", "dry palms", "choice")).toBe(true);
    expect(isCorrect("wet palms", "dry palms", "choice")).toBe(false);
    expect(isCorrect(extractText("The answer is  Deep   Blue."), "deep blue", "text")).toBe(true);
  });
});

describe("extractAnswer", () => {
  test("dispatches on the answer kind", () => {
    expect(extractAnswer("The answer is 4.", "number")).toBe("4");
    expect(extractAnswer("The answer is A.", "choice", palms)).toBe("dry palms");
    expect(extractAnswer("The answer is Paris.", "text")).toBe("paris");
    expect(extractAnswer("No idea.", "text")).toBeNull();
  });

  test("needs the choices for kind 'choice'", () => {
    expect(() => extractAnswer("The answer is A.", "choice")).toThrow(`kind "choice" needs the question's choices`);
  });
});

describe("round trip on the shipped datasets", () => {
  test("every response y reads back as its groundtruth", () => {
    for (const name of ["gsm8k", "arc_challenge"]) {
      for (const split of ["train", "val", "test"]) {
        const d = loadDataset(name, split);
        for (const e of d.examples) {
          expect(isCorrect(extractAnswer(e.response, d.answerKind, e.choices), e.groundtruth, d.answerKind)).toBe(true);
        }
      }
    }
  });

  test("the GSM8K reference solutions' final number is their gold answer", () => {
    for (const p of readGsm8k("test")) {
      expect(isCorrect(extractNumber(`${p.rationale}#### ${p.answer}`), p.answer, "number")).toBe(true);
    }
  });
});
