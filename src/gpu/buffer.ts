// Pooled GPU storage buffers, bucketed by size class, with explicit release.
//
// Every tensor's storage is a `Buf`: a GPUBuffer (STORAGE | COPY_SRC | COPY_DST) whose capacity is
// the size class of the requested byte length. Size classes are 2^(k/4) rounded up to 256 bytes, so a
// pooled buffer wastes at most ~19% and a released buffer is reused by the next request of its class.
// Buffers that live for the whole run (weights, optimizer moments) ask for an exact size instead
// (`acquire(bytes, { exact: true })`: rounded up to 256 bytes only), since they are never reused.
// Nothing is freed by GC: owners call `release` (the autograd tape does this deterministically).
//
// Tensors larger than the device's maxStorageBufferBindingSize (128 MiB on lavapipe) are one Buf up
// to maxBufferSize; kernels that may see them bind a window of it (`Binding` with offset and size, the
// offset a multiple of minStorageBufferOffsetAlignment) and loop over windows along the leading
// dimension. See `bindingWindows`; tests lower the limit with `setBindingLimit` to exercise windowing.
import { gpu } from "./device.ts";

export interface Buf {
  readonly buffer: GPUBuffer;
  /** Bytes requested (the tensor's size). */
  readonly size: number;
  /** Bytes allocated (the size class). */
  readonly capacity: number;
}

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const free = new Map<number, GPUBuffer[]>();
const stats = { liveBytes: 0, pooledBytes: 0, peakLiveBytes: 0, allocations: 0, reuses: 0 };

export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const k = Math.ceil(4 * Math.log2(bytes));
  let c = Math.ceil(2 ** (k / 4) / 256) * 256;
  while (c < bytes) c += 256;
  return c;
}

/** Bytes a buffer of `bytes` takes: its size class, or with `exact` the next multiple of 256. */
export function capacityOf(bytes: number, exact = false): number {
  return exact ? Math.max(256, Math.ceil(bytes / 256) * 256) : sizeClass(Math.max(bytes, 4));
}

/** A buffer of at least `bytes` bytes (contents undefined) from the pool, or a new one. */
export function acquire(bytes: number, opts: { exact?: boolean } = {}): Buf {
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`acquire: bytes must be a non-negative integer, got ${bytes}`);
  const { device, limits } = gpu();
  const capacity = capacityOf(bytes, opts.exact);
  if (capacity > limits.maxBufferSize) {
    throw new Error(
      `acquire: ${bytes} bytes exceeds this adapter's maxBufferSize (${limits.maxBufferSize}); split the tensor (smaller batch or sequence length)`,
    );
  }
  const list = free.get(capacity);
  let buffer = list?.pop();
  if (buffer) {
    stats.pooledBytes -= capacity;
    stats.reuses++;
  } else {
    buffer = device.createBuffer({ size: capacity, usage: USAGE });
    stats.allocations++;
  }
  stats.liveBytes += capacity;
  stats.peakLiveBytes = Math.max(stats.peakLiveBytes, stats.liveBytes);
  return { buffer, size: bytes, capacity };
}

/** Returns a buffer to the pool. The caller must not use it afterwards. */
export function release(buf: Buf): void {
  let list = free.get(buf.capacity);
  if (!list) free.set(buf.capacity, (list = []));
  list.push(buf.buffer);
  stats.liveBytes -= buf.capacity;
  stats.pooledBytes += buf.capacity;
}

/** Destroys every pooled (released) buffer, returning their memory to the driver. */
export function trimPool(): void {
  for (const list of free.values()) for (const b of list) b.destroy();
  free.clear();
  stats.pooledBytes = 0;
}

export function poolStats(): Readonly<typeof stats> {
  return { ...stats };
}

/** Resets the peak-memory counter (bench reports peak per phase). */
export function resetPeak(): void {
  stats.peakLiveBytes = stats.liveBytes;
}

let limitOverride: number | undefined;

/** Largest storage binding in bytes: the device's maxStorageBufferBindingSize, or the `setBindingLimit` override. */
export function bindingLimit(): number {
  return limitOverride ?? gpu().limits.maxStorageBufferBindingSize;
}

/**
 * Tests only: pretend the storage binding limit is `bytes` (undefined restores the device's), so that
 * small tensors take the windowed paths of every launcher.
 */
export function setBindingLimit(bytes: number | undefined): void {
  limitOverride = bytes;
}

/** Rows [row0, row0 + rows) of a tensor split along its leading dimension. */
export interface BindingWindow {
  row0: number;
  rows: number;
}

export interface WindowOptions {
  /** Most rows per window (e.g. what the workgroup-count limit allows); default unbounded. */
  cap?: number;
  /** Window heights are a multiple of this where the limit allows (matmul: vec4 loads); default 1. */
  multiple?: number;
  /** Bytes per binding; default `bindingLimit()`. */
  maxBytes?: number;
  /** Offset alignment in bytes; default minStorageBufferOffsetAlignment. */
  align?: number;
}

/**
 * Splits `rows` rows into windows that each fit one storage binding: one window when everything fits,
 * else windows of equal height (the last shorter) whose byte offsets are aligned. `rowBytes` is the row
 * size of the tensor, or of each tensor split alike (e.g. a fused [N, 2I] operand with [N, I] ones):
 * the widest must fit, and every one's window offsets are aligned.
 */
export function bindingWindows(rows: number, rowBytes: number | number[], opts: WindowOptions = {}): BindingWindow[] {
  const { cap = Infinity, multiple = 1, maxBytes = bindingLimit(), align = gpu().limits.minStorageBufferOffsetAlignment } = opts;
  const sizes = typeof rowBytes === "number" ? [rowBytes] : rowBytes;
  const widest = Math.max(0, ...sizes);
  if (rows * widest <= maxBytes && rows <= cap) return [{ row0: 0, rows }];
  const maxRows = Math.min(cap, Math.floor(maxBytes / widest));
  if (maxRows < 1) throw new Error(`bindingWindows: one row of ${widest} bytes exceeds the ${maxBytes}-byte binding limit`);
  // Heights that start every window of every tensor on an aligned offset: the multiples of `unit`.
  const unit = sizes.reduce((u, r) => lcm(u, align / gcd(r, align)), 1);
  const preferred = lcm(unit, multiple);
  const step = maxRows - (maxRows % (maxRows >= preferred ? preferred : unit));
  if (step < 1) {
    throw new Error(`bindingWindows: no window of ${sizes.join("/")}-byte rows under ${maxBytes} bytes starts ${align}-byte aligned`);
  }
  const out: BindingWindow[] = [];
  for (let r = 0; r < rows; r += step) out.push({ row0: r, rows: Math.min(step, rows - r) });
  return out;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;
