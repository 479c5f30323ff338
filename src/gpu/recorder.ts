// Records GPU work: many dispatches into one command encoder and one compute pass per batch.
//
// Opening a compute pass costs ~36 µs of CPU and a readback (mapAsync) 5–15 ms, so launchers only
// call `dispatch`, and work is submitted when someone needs a result (`download`, `sync`) or when the
// uniform ring is full. Within one pass every dispatch is its own synchronisation scope, so a
// dispatch sees the storage writes of the ones before it.
//
// Kernel parameters: a dispatch's `params` bytes are bound as a uniform at @binding(0); storage
// bindings follow at @binding(1..n) in the order given.
//
// Bind groups are reused when a dispatch repeats (same pipeline, same buffer ranges, same params
// bytes), as the decode loop does every token: the second sighting of a dispatch creates a bind group
// whose own 256-byte uniform buffer holds those params (written once), and every later sighting only
// sets it. A first sighting writes its params to a slot of a per-batch uniform ring buffer and builds
// a one-off bind group. Each pipeline's bind group layout is fetched once.
import { type Buf } from "./buffer.ts";
import { gpu } from "./device.ts";
import { checkKernels } from "./kernel.ts";

export type Binding = Buf | GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

const RING_BYTES = 1 << 20;
const SLOT = 256; // max minUniformBufferOffsetAlignment across adapters

interface Batch {
  encoder: GPUCommandEncoder;
  pass?: GPUComputePassEncoder;
  dispatches: number;
}

let batch: Batch | undefined;
let ring: GPUBuffer | undefined;
const ringStaging = new Uint8Array(RING_BYTES);
let ringUsed = 0;
/**
 * Timestamp capture for `timeGpu` (src/gpu/timing.ts): every pass opened writes a begin/end pair
 * into the query set (`capacity` queries). With `labels` (a profile), every dispatch gets a pass of
 * its own, labelled with its pipeline, and a full query set is resolved into `resolved` and replaced.
 */
interface Timestamps {
  querySet: GPUQuerySet;
  capacity: number;
  used: number;
  labels?: string[];
  resolved: { buffer: GPUBuffer; count: number }[];
}
let timestamps: Timestamps | undefined;
/** waitMs: wall time spent awaiting the device (sync, download): the CPU idle while the device works. */
const counters = { dispatches: 0, passes: 0, submits: 0, waitMs: 0 };

async function awaitDevice<T>(work: Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await work;
  } finally {
    counters.waitMs += performance.now() - t0;
  }
}

function currentBatch(): Batch {
  batch ??= { encoder: gpu().device.createCommandEncoder(), dispatches: 0 };
  return batch;
}

function computePass(): GPUComputePassEncoder {
  const b = currentBatch();
  if (!b.pass) {
    let timestampWrites: GPUComputePassTimestampWrites | undefined;
    if (timestamps) {
      if (timestamps.used + 2 > timestamps.capacity) {
        if (!timestamps.labels) throw new Error("timing: too many compute passes in one timed region");
        resolveTimestamps(timestamps, b.encoder);
        timestamps.querySet = gpu().device.createQuerySet({ type: "timestamp", count: timestamps.capacity });
      }
      timestampWrites = {
        querySet: timestamps.querySet,
        beginningOfPassWriteIndex: timestamps.used,
        endOfPassWriteIndex: timestamps.used + 1,
      };
      timestamps.used += 2;
    }
    b.pass = b.encoder.beginComputePass({ timestampWrites });
    counters.passes++;
  }
  return b.pass;
}

function endPass(): GPUCommandEncoder {
  const b = currentBatch();
  b.pass?.end();
  b.pass = undefined;
  return b.encoder;
}

function entry(binding: number, b: Binding): GPUBindGroupEntry {
  if ("capacity" in b) return { binding, resource: { buffer: b.buffer, offset: 0, size: Math.max(4, align4(b.size)) } };
  if (b instanceof GPUBuffer) return { binding, resource: { buffer: b } };
  return { binding, resource: { buffer: b.buffer, offset: b.offset, size: b.size } };
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;

/** Distinct dispatches remembered for bind-group reuse; past this the memory is cleared (rare). */
let maxRemembered = 8192;
/** Key of a dispatch seen once → true; of a dispatch seen twice or more → its bind group. */
const remembered = new Map<string, true | GPUBindGroup>();
let cachedUniforms: GPUBuffer[] = [];
let uniformsToDestroy: GPUBuffer[] = [];
const layouts = new Map<GPUComputePipeline, GPUBindGroupLayout>();
const ids = new WeakMap<object, number>();
let nextId = 0;
const idOf = (o: object) => {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
};
const bindCounters = { bindGroupsCreated: 0, bindGroupsReused: 0 };

function layoutOf(pipeline: GPUComputePipeline): GPUBindGroupLayout {
  let layout = layouts.get(pipeline);
  if (!layout) layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
  return layout;
}

/** Identity of a dispatch's bind group: pipeline, each binding's (buffer, offset, size), params bytes. */
function dispatchKey(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[], params?: ArrayBufferView): string {
  let key = `${idOf(pipeline)}`;
  for (const e of entries) {
    const r = e.resource as GPUBufferBinding;
    key += `|${idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
  }
  if (params) {
    const w = new Uint32Array(params.buffer, params.byteOffset, params.byteLength >> 2);
    key += "|";
    for (let i = 0; i < w.length; i++) key += `${w[i].toString(36)},`;
  }
  return key;
}

/**
 * Records one dispatch of `pipeline` over `groups` workgroups. `params` (≤ 256 bytes, a multiple of
 * 4) is bound as a uniform at binding 0; `bindings` are the storage buffers at bindings 1.. (0.. when
 * no params).
 */
export function dispatch(
  pipeline: GPUComputePipeline,
  bindings: Binding[],
  groups: [number, number?, number?],
  params?: ArrayBufferView,
): void {
  const [x, y = 1, z = 1] = groups;
  if (x === 0 || y === 0 || z === 0) return;
  const { device, limits } = gpu();
  const max = limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max) {
    throw new Error(`dispatch ${pipeline.label}: workgroups [${x}, ${y}, ${z}] exceed maxComputeWorkgroupsPerDimension ${max}`);
  }
  if (params && (params.byteLength > SLOT || params.byteLength % 4 !== 0)) {
    throw new Error(`dispatch ${pipeline.label}: params of ${params.byteLength} bytes; expected a multiple of 4, at most ${SLOT}`);
  }
  const first = params ? 1 : 0;
  const entries = bindings.map((b, i) => entry(first + i, b));
  const key = dispatchKey(pipeline, entries, params);
  let seen = remembered.get(key);
  let bindGroup: GPUBindGroup;
  if (seen !== undefined && seen !== true) {
    bindGroup = seen;
    bindCounters.bindGroupsReused++;
  } else {
    if (remembered.size >= maxRemembered) {
      // Forget before building: a uniform made now must not be among those destroyed with the memory.
      forgetDispatches();
      seen = undefined;
    }
    if (params) {
      const size = align4(Math.max(16, params.byteLength));
      let uniform: GPUBufferBinding;
      if (seen) {
        // Second sighting: a uniform buffer of its own, written once, for every later reuse.
        const buffer = device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(buffer, 0, paddedBytes(params, size));
        cachedUniforms.push(buffer);
        uniform = { buffer };
      } else {
        if (ringUsed + SLOT > RING_BYTES) flush();
        ringStaging.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength), ringUsed);
        ring ??= device.createBuffer({ size: RING_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        uniform = { buffer: ring, offset: ringUsed, size };
        ringUsed += SLOT;
      }
      entries.unshift({ binding: 0, resource: uniform });
    }
    bindGroup = device.createBindGroup({ layout: layoutOf(pipeline), entries });
    bindCounters.bindGroupsCreated++;
    remembered.set(key, seen ? bindGroup : true);
  }
  const pass = computePass(); // profiled: a new pass, since every profiled dispatch ends its own
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, z);
  if (timestamps?.labels) {
    timestamps.labels.push(pipeline.label);
    endPass();
  }
  currentBatch().dispatches++;
  counters.dispatches++;
}

/** `params` as the bytes of a uniform of `size` bytes (zero-padded). */
function paddedBytes(params: ArrayBufferView, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  out.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength));
  return out;
}

/**
 * Tests only: remember at most `count` distinct dispatches (undefined restores the default), so that
 * a test reaches the point where the memory is cleared.
 */
export function setDispatchMemory(count: number | undefined): void {
  maxRemembered = count ?? 8192;
}

/** Drops every remembered dispatch; their uniform buffers are destroyed once the batch is submitted. */
function forgetDispatches(): void {
  remembered.clear();
  uniformsToDestroy.push(...cachedUniforms);
  cachedUniforms = [];
}

/** Workgroup counts for `n` independent workgroups, folded into y when x would exceed the limit. */
export function grid(n: number): [number, number] {
  const max = gpu().limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [n, 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

function located(b: Binding): { buffer: GPUBuffer; offset: number } {
  if (b instanceof GPUBuffer) return { buffer: b, offset: 0 };
  return { buffer: b.buffer, offset: "offset" in b ? b.offset : 0 };
}

/** Records a buffer-to-buffer copy (ends the current compute pass). */
export function copy(src: Binding, srcOffset: number, dst: Binding, dstOffset: number, bytes: number): void {
  const s = located(src);
  const d = located(dst);
  endPass().copyBufferToBuffer(s.buffer, s.offset + srcOffset, d.buffer, d.offset + dstOffset, bytes);
}

/**
 * Writes the bytes `data` views (from its byteOffset, byteLength of them) into `dst` at
 * `offsetBytes`, ordered after the work recorded so far: with nothing pending it is a plain queue
 * write; otherwise a staging buffer is copied inside the batch.
 * dawn.node's `writeBuffer(buffer, offset, view)` ignores the view's byteOffset (it writes from the
 * start of the view's ArrayBuffer), so the queue write passes the ArrayBuffer with a byte range.
 */
export function upload(dst: Buf | GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
  const { device } = gpu();
  const target = dst instanceof GPUBuffer ? dst : dst.buffer;
  if (data.byteLength % 4 !== 0) throw new Error(`upload: ${data.byteLength} bytes is not a multiple of 4`);
  if (!batch) {
    device.queue.writeBuffer(target, offsetBytes, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    return;
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const staging = device.createBuffer({ size: bytes.byteLength, usage: GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
  new Uint8Array(staging.getMappedRange()).set(bytes);
  staging.unmap();
  endPass().copyBufferToBuffer(staging, 0, target, offsetBytes, bytes.byteLength);
  stagingToDestroy.push(staging);
}

let stagingToDestroy: GPUBuffer[] = [];

/** Submits everything recorded so far. */
export function flush(): void {
  if (!batch) return;
  const { device } = gpu();
  const encoder = endPass();
  if (ringUsed > 0 && ring) device.queue.writeBuffer(ring, 0, ringStaging, 0, ringUsed);
  device.queue.submit([encoder.finish()]);
  counters.submits++;
  batch = undefined;
  ringUsed = 0;
  for (const s of stagingToDestroy) s.destroy();
  stagingToDestroy = [];
  for (const u of uniformsToDestroy) u.destroy();
  uniformsToDestroy = [];
  for (const q of querySetsToDestroy) q.destroy();
  querySetsToDestroy = [];
}

/** Submits pending work, waits for the GPU to finish it, and reports kernel compile errors. */
export async function sync(): Promise<void> {
  flush();
  await checkKernels();
  await awaitDevice(gpu().device.queue.onSubmittedWorkDone());
}

/** Copies `bytes` bytes of `src` (from `offsetBytes`) back to the CPU. Submits pending work. */
export async function download(src: Buf | GPUBuffer, bytes?: number, offsetBytes = 0): Promise<ArrayBuffer> {
  const { device } = gpu();
  const buffer = src instanceof GPUBuffer ? src : src.buffer;
  const n = align4(bytes ?? (src instanceof GPUBuffer ? src.size : src.size) - offsetBytes);
  await checkKernels();
  const read = device.createBuffer({ size: Math.max(4, n), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  endPass().copyBufferToBuffer(buffer, offsetBytes, read, 0, n);
  flush();
  await awaitDevice(read.mapAsync(GPUMapMode.READ));
  const out = read.getMappedRange().slice(0);
  read.unmap();
  read.destroy();
  return out;
}

export async function downloadF32(src: Buf, count?: number, offset = 0): Promise<Float32Array> {
  return new Float32Array(await download(src, (count ?? src.size / 4 - offset) * 4, offset * 4));
}

/** Begins capturing pass timestamps into a new query set (used by timing.ts). */
export function beginTimestamps(capacity: number): void {
  flush();
  timestamps = { querySet: gpu().device.createQuerySet({ type: "timestamp", count: capacity }), capacity, used: 0, resolved: [] };
}

/** Records the resolve of the used part of `t`'s query set into a buffer of its own (and destroys the set once submitted). */
function resolveTimestamps(t: Timestamps, encoder: GPUCommandEncoder): void {
  const buffer = gpu().device.createBuffer({ size: Math.max(8, t.used * 8), usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  if (t.used > 0) encoder.resolveQuerySet(t.querySet, 0, t.used, buffer, 0);
  t.resolved.push({ buffer, count: t.used });
  querySetsToDestroy.push(t.querySet);
  t.used = 0;
}

let querySetsToDestroy: GPUQuerySet[] = [];

/** Ends capture and returns the GPU time of each captured pass, in milliseconds. */
async function passTimes(): Promise<number[]> {
  const t = timestamps;
  if (!t) throw new Error("endTimestamps without beginTimestamps");
  resolveTimestamps(t, endPass());
  timestamps = undefined;
  const times: number[] = [];
  for (const { buffer, count } of t.resolved) {
    const raw = new BigUint64Array(await download(buffer, count * 8));
    buffer.destroy();
    for (let i = 0; i + 1 < count; i += 2) times.push(raw[i + 1] > raw[i] ? Number(raw[i + 1] - raw[i]) / 1e6 : 0);
  }
  return times;
}

/** Ends capture and returns the summed GPU time of all captured passes, in milliseconds. */
export async function endTimestamps(): Promise<number> {
  return (await passTimes()).reduce((a, b) => a + b, 0);
}

/**
 * Profiles the dispatches recorded until `endProfile`, each in a pass of its own (so a dispatch does
 * not overlap the next, as it may in a shared pass). Needs timestamp-query.
 */
export function beginProfile(): void {
  if (!gpu().hasTimestamps) throw new Error("beginProfile: the adapter has no timestamp-query feature");
  beginTimestamps(4096); // the most queries a set may hold
  timestamps!.labels = [];
}

/** GPU milliseconds and dispatch count per pipeline label since `beginProfile`. */
export async function endProfile(): Promise<Map<string, { count: number; ms: number }>> {
  const labels = timestamps?.labels;
  if (!labels) throw new Error("endProfile without beginProfile");
  const times = await passTimes();
  const out = new Map<string, { count: number; ms: number }>();
  labels.forEach((label, i) => {
    const e = out.get(label) ?? { count: 0, ms: 0 };
    e.count++;
    e.ms += times[i];
    out.set(label, e);
  });
  return out;
}

export function recorderCounters(): Readonly<typeof counters & typeof bindCounters> {
  return { ...counters, ...bindCounters };
}
