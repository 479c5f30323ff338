// bun, like npm, runs a package script named `pre<name>` before every `bun run <name>`. The project's
// `pretrain` script (build the base model) would thus start before every `bun run train`;
// `isPreScriptHook` lets it tell the two apart and step aside when it is only a hook.
import { readFileSync } from "node:fs";

/** The argv and parent pid of process `pid`, from /proc or else `ps`; undefined when neither answers. */
function processInfo(pid: number): { argv: string[]; ppid: number } | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return { argv, ppid: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) };
  } catch {
    const ps = Bun.spawnSync(["ps", "-o", "ppid=,args=", "-p", String(pid)]);
    const m = /^\s*(\d+)\s+(.*)$/.exec(ps.stdout.toString().trim());
    return ps.success && m ? { argv: m[2].split(/\s+/), ppid: Number(m[1]) } : undefined;
  }
}

/**
 * True when this process runs as the lifecycle hook of another script: the package manager set
 * npm_lifecycle_event to this script's name, but the nearest ancestor whose command line names a
 * script (`bun run train`, `npm run train`) names a different one. False when run directly.
 */
export function isPreScriptHook(): boolean {
  const event = process.env.npm_lifecycle_event;
  if (event === undefined || !event.startsWith("pre")) return false;
  const target = event.slice(3);
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    const info = processInfo(pid);
    if (!info) return false;
    if (info.argv.includes(event)) return false;
    if (info.argv.includes(target)) return true;
    pid = info.ppid;
  }
  return false;
}
