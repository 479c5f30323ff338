// Ctrl-C handling in a child process: the first SIGINT only asks to stop, a second within a second
// (bun run forwarding the same keypress) is ignored, one after a second exits at once with 130.
import { expect, test } from "bun:test";

test("one Ctrl-C asks to stop, its forwarded twin is ignored, a second Ctrl-C after a second exits 130", async () => {
  const code = `
    import { Interrupt } from "${import.meta.dir}/../../src/train/interrupt.ts";
    const interrupt = new Interrupt("saving").install();
    console.log("before", interrupt.requested);
    process.kill(process.pid, "SIGINT");
    process.kill(process.pid, "SIGINT");
    await Bun.sleep(300);
    console.log("after two", interrupt.requested);
    await Bun.sleep(1000);
    process.kill(process.pid, "SIGINT");
    await Bun.sleep(3000);
    console.log("still running");
  `;
  const child = Bun.spawn(["bun", "-e", code], { stdout: "pipe", stderr: "pipe" });
  expect(await child.exited).toBe(130);
  expect(await new Response(child.stdout).text()).toBe("before false\nafter two true\n");
  const stderr = await new Response(child.stderr).text();
  expect(stderr).toContain("SIGINT: finishing this update, then saving");
  expect(stderr).toContain("SIGINT again: exiting without saving");
});
