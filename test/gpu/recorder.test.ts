import { expect, test } from "bun:test";
import { gpu } from "../../src/gpu/device.ts";
import { beginProfile, downloadF32, endProfile, recorderCounters, setDispatchMemory, sync } from "../../src/gpu/recorder.ts";
import { axpy, scale } from "../../src/kernels/elementwise.ts";
import { setupGpu, toGpu } from "../helpers.ts";

test("a repeated dispatch reuses its bind group; params and buffers that differ get their own", async () => {
  await setupGpu();
  const n = 37;
  const x = toGpu(Array.from({ length: n }, (_, i) => i));
  const y = toGpu(new Float32Array(n));
  const z = toGpu(new Float32Array(n));
  const before = recorderCounters();
  // y += 0.5·x four times (the same dispatch), then y += 2·x once (other params), z += 0.5·x (other buffer).
  for (let i = 0; i < 4; i++) axpy(y, x, 0.5, n);
  axpy(y, x, 2, n);
  axpy(z, x, 0.5, n);
  const after = recorderCounters();
  expect(after.dispatches - before.dispatches).toBe(6);
  // The first two sightings of the repeated dispatch build bind groups; the other two reuse the second.
  expect(after.bindGroupsReused - before.bindGroupsReused).toBe(2);
  expect(after.bindGroupsCreated - before.bindGroupsCreated).toBe(4);
  expect(Array.from(await downloadF32(y, n))).toEqual(Array.from({ length: n }, (_, i) => 4 * i));
  expect(Array.from(await downloadF32(z, n))).toEqual(Array.from({ length: n }, (_, i) => 0.5 * i));
  // Reused across submits, its uniform still holds its params.
  axpy(y, x, 0.5, n);
  scale(z, z, 3, n);
  expect(recorderCounters().bindGroupsReused - after.bindGroupsReused).toBe(1);
  expect(Array.from(await downloadF32(y, n))).toEqual(Array.from({ length: n }, (_, i) => 4.5 * i));
  expect(Array.from(await downloadF32(z, n))).toEqual(Array.from({ length: n }, (_, i) => 1.5 * i));
});

test("when the memory of dispatches is cleared, a reused bind group never holds a destroyed uniform", async () => {
  await setupGpu();
  const n = 19;
  const x = toGpu(Array.from({ length: n }, (_, i) => i));
  const y = toGpu(new Float32Array(n));
  const z = toGpu(new Float32Array(n));
  setDispatchMemory(4);
  try {
    // Three one-off dispatches and a first sighting of y += x fill the memory; the second sighting
    // of y += x clears it. Each later sighting, in later submits, must still add x.
    for (const a of [1, 2, 3]) axpy(z, x, a, n);
    for (let i = 0; i < 5; i++) {
      axpy(y, x, 1, n);
      await sync();
    }
  } finally {
    setDispatchMemory(undefined);
  }
  expect(Array.from(await downloadF32(y, n))).toEqual(Array.from({ length: n }, (_, i) => 5 * i));
  expect(Array.from(await downloadF32(z, n))).toEqual(Array.from({ length: n }, (_, i) => 6 * i));
});

test("a profile times every dispatch by its pipeline, across full query sets and readbacks in between", async () => {
  await setupGpu();
  if (!gpu().hasTimestamps) {
    expect(() => beginProfile()).toThrow("beginProfile: the adapter has no timestamp-query feature");
    return;
  }
  const n = 19;
  const x = toGpu(Array.from({ length: n }, (_, i) => i + 1));
  const y = toGpu(new Float32Array(n));
  const z = toGpu(Array.from({ length: n }, () => 1));
  beginProfile();
  for (let i = 0; i < 1500; i++) axpy(y, x, 1, n); // 1500 + 1000 dispatches: more than one query set (2048 passes) holds
  expect(Array.from(await downloadF32(y, n))).toEqual(Array.from({ length: n }, (_, i) => 1500 * (i + 1)));
  for (let i = 0; i < 1000; i++) scale(z, z, 1, n);
  const profile = await endProfile();
  expect([...profile.keys()].sort()).toEqual(["elementwise:axpby", "elementwise:scale"]);
  expect(profile.get("elementwise:axpby")!.count).toBe(1500);
  expect(profile.get("elementwise:scale")!.count).toBe(1000);
  for (const { ms } of profile.values()) expect(ms).toBeGreaterThan(0);
  await expect(endProfile()).rejects.toThrow("endProfile without beginProfile");
  axpy(y, x, 1, n); // recording goes on unprofiled
  expect((await downloadF32(y, n))[0]).toBe(1501);
});
