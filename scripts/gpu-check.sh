#!/usr/bin/env bash
# The GPU check: on whatever WebGPU adapter this machine has, runs the kernel and model tests,
# `bun run bench --quick`, the LaTRO row (`bun run bench --only latro`) and the per-kernel profile of
# one LaTRO update (`bun scripts/profile.ts --latro`), and writes one JSON of results (default
# runs/gpu-check.json): the adapter, each step's exit status, seconds and test counts, every bench
# row and the profile. Under 8 minutes on a real GPU; `--short` runs a subset (minutes on lavapipe)
# to check the script itself.
#
#   scripts/gpu-check.sh [--short] [--out FILE]
#
# Needs only what the repository carries plus bun and node_modules (bun found on PATH, or at $BUN).
# On a bare machine without a Vulkan loader, carry the loader's .deb files in .gl/ (see
# /work/.library/device/README.md where that applies): they are unpacked into / first. The NVIDIA
# ICD is used when it is where the device machines keep it and no VK_DRIVER_FILES is set. A failing
# step is recorded and the check goes on; the exit status is 1 when any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

short=0
out=runs/gpu-check.json
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1 ;;
    --out) out="${2:?--out needs a file}"; shift ;;
    *) echo "gpu-check: unknown argument $1 (expected --short, --out FILE)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "[gpu-check] $*" >&2; }
bun="${BUN:-$(command -v bun || true)}"
[ -x "$bun" ] || { say "bun not found: put it on PATH or set BUN=/path/to/bun"; exit 2; }
[ -d node_modules/webgpu ] || { say "node_modules/webgpu is missing: run 'bun install --frozen-lockfile' (or carry node_modules)"; exit 2; }

# The Vulkan loader (and the GL libraries beside it) from carried packages, when the system lacks one.
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && compgen -G ".gl/*.deb" >/dev/null; then
  say "unpacking the carried Vulkan loader (.gl/*.deb)"
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -r "$nvidia_icd" ]; then export VK_DRIVER_FILES="$nvidia_icd"; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"

adapter="$("$bun" scripts/probe-gpu.ts 2>"$work/probe.err")" || { say "no WebGPU adapter: $(cat "$work/probe.err")"; exit 1; }
say "adapter: $adapter"
[ -f build/glue.wasm ] || "$bun" run build:asm >/dev/null || { say "building build/glue.wasm failed"; exit 1; }

if [ "$short" = 1 ]; then
  tests=(test/kernels/rope.test.ts test/kernels/swiglu.test.ts test/model/transformer.test.ts)
  bench=(--quick --only dispatch,generate)
  latro=(--quick --only latro)
else
  tests=(test/kernels test/model)
  bench=(--quick)
  latro=(--only latro)
fi

# step NAME CMD...: runs CMD, its output in $work/NAME.log, and appends NAME's record to $work/steps.
step() {
  local name="$1"; shift
  say "$name: $*"
  local t0=$SECONDS
  "$@" >"$work/$name.log" 2>&1
  local rc=$?
  echo "$name $rc $((SECONDS - t0))" >>"$work/steps"
  [ "$rc" = 0 ] || { say "$name failed (exit $rc); the end of its output:"; tail -n 30 "$work/$name.log" >&2; }
}

step tests "$bun" test --timeout 600000 "${tests[@]}"
step bench "$bun" src/cli/bench.ts "${bench[@]}" --out "$work/bench.json"
step latro "$bun" src/cli/bench.ts "${latro[@]}" --out "$work/latro.json"
step profile "$bun" scripts/profile.ts --latro --out "$work/profile.json"

WORK="$work" OUT="$out" ADAPTER="$adapter" SHORT="$short" "$bun" -e '
const { existsSync, readFileSync, writeFileSync } = require("node:fs");
const w = process.env.WORK;
const steps = readFileSync(`${w}/steps`, "utf8").trim().split("\n").map((l) => {
  const [name, rc, seconds] = l.split(" ");
  return { name, exitCode: Number(rc), seconds: Number(seconds) };
});
const log = readFileSync(`${w}/tests.log`, "utf8");
const count = (what) => Number(log.match(new RegExp(`^\\s*(\\d+) ${what}$`, "m"))?.[1] ?? NaN);
const failed = [...log.matchAll(/^\(fail\) (.*)$/gm)].map((m) => m[1]);
const bench = (f) => (existsSync(`${w}/${f}`) ? JSON.parse(readFileSync(`${w}/${f}`, "utf8")) : undefined);
const b = bench("bench.json");
const l = bench("latro.json");
const result = {
  date: new Date().toISOString(),
  short: process.env.SHORT === "1",
  adapter: b?.adapter ?? process.env.ADAPTER,
  steps,
  tests: { pass: count("pass"), fail: count("fail"), failed },
  bench: b?.rows ?? [],
  latro: l?.rows ?? [],
  profile: bench("profile.json"),
};
writeFileSync(process.env.OUT, JSON.stringify(result, null, 2));
console.log(`[gpu-check] wrote ${process.env.OUT}: tests ${result.tests.pass} pass, ${result.tests.fail} fail; ${steps.map((s) => `${s.name} ${s.exitCode === 0 ? "ok" : "FAILED"} ${s.seconds} s`).join(", ")}`);
'
awk '$2 != 0 { failed = 1 } END { exit failed }' "$work/steps"
