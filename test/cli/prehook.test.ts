import { expect, test } from "bun:test";

// A child reports isPreScriptHook() when started by `sh -c … <script>`, as a package manager asked to
// run <script> would start it: the hook case is `pretrain` running for `train`.
function hookSeenBy(event: string | undefined, script: string): string {
  const code = `import { isPreScriptHook } from "${import.meta.dir}/../../src/cli/prehook.ts"; console.log(isPreScriptHook())`;
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  if (event === undefined) delete env.npm_lifecycle_event;
  else env.npm_lifecycle_event = event;
  const child = Bun.spawnSync(["sh", "-c", `"${process.execPath}" -e '${code}'; true`, "sh", script], { env });
  return child.stdout.toString().trim();
}

test("the pretrain script steps aside only when bun runs it before `train`", () => {
  expect(hookSeenBy("pretrain", "train")).toBe("true");
  expect(hookSeenBy("pretrain", "pretrain")).toBe("false");
  expect(hookSeenBy(undefined, "train")).toBe("false");
  expect(hookSeenBy("train", "train")).toBe("false");
});
