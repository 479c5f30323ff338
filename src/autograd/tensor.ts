// Tensor: a shape and dtype over a pooled GPU buffer, plus the autograd links that the tape fills.
//
// Memory is freed deterministically, never by GC: every tensor is created inside the current scope
// (src/autograd/scope.ts) and released when that scope ends, unless it is returned from the scope
// or `keep()` was called on it (parameters, optimizer state, caches).
import { acquire, type Buf, release } from "../gpu/buffer.ts";
import { downloadF32, download, upload } from "../gpu/recorder.ts";
import { track } from "./scope.ts";

/** Element types: f32 and i32; f16 and bf16 only as storage of frozen weights (read by matmul and embedding). */
export type DType = "f32" | "i32" | "f16" | "bf16";

export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, i32: 4, f16: 2, bf16: 2 };

/** A GPU buffer shared by a tensor and its views; returned to the pool when the last one is released. */
interface Storage {
  buf: Buf;
  refs: number;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  private readonly storage: Storage;
  /** Set on parameters (leaves) and on every op output that depends on one while grad is enabled. */
  requiresGrad = false;
  /** Accumulated gradient (parameters) or the incoming gradient during backward (intermediates). */
  grad: Tensor | undefined;
  /** Optional name, used in error messages (e.g. the parameter's HF name). */
  name: string | undefined;
  private released = false;
  kept = false;

  /** `exact`: allocate exactly (parameters that live for the run) rather than from a pooled size class. */
  constructor(shape: readonly number[], dtype: DType = "f32", storage?: Storage, opts: { exact?: boolean } = {}) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: bad shape [${shape.join(", ")}]`);
    }
    this.shape = shape;
    this.dtype = dtype;
    this.storage = storage ?? { buf: acquire(numel(shape) * DTYPE_BYTES[dtype], opts), refs: 0 };
    this.storage.refs++;
    track(this);
  }

  get buf(): Buf {
    return this.storage.buf;
  }

  get size(): number {
    return numel(this.shape);
  }

  /** Exempts this tensor from scope release; its owner calls `release()`. */
  keep(): this {
    this.kept = true;
    return this;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (--this.storage.refs === 0) release(this.storage.buf);
    if (this.grad && !this.grad.kept) this.grad.release();
  }

  /** True when another live tensor (a view) shares this tensor's buffer. */
  get isShared(): boolean {
    return this.storage.refs > 1;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Another shape over the same buffer (same element count); the buffer lives until both are released. */
  view(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) throw new Error(`view: [${this.shape}] cannot be viewed as [${shape}]`);
    return new Tensor(shape, this.dtype, this.storage);
  }

  /** The values; f16 and bf16 are widened to f32. */
  async toArray(): Promise<Float32Array | Int32Array> {
    if (this.dtype === "i32") return new Int32Array(await download(this.buf, this.size * 4));
    if (this.dtype === "f32") return downloadF32(this.buf, this.size);
    const bits = new Uint16Array(await download(this.buf, Math.ceil(this.size / 2) * 4), 0, this.size);
    if (this.dtype === "f16") return new Float32Array(new Float16Array(bits.buffer, 0, this.size));
    return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
  }

  /** A tensor over raw 16-bit storage (`f16` or `bf16` bits, as safetensors stores them). */
  static fromBits(bits: Uint16Array, shape: readonly number[], dtype: "f16" | "bf16", opts: { exact?: boolean } = {}): Tensor {
    if (bits.length !== numel(shape)) throw new Error(`fromBits: ${bits.length} values for shape [${shape}]`);
    const t = new Tensor(shape, dtype, undefined, opts);
    const padded = new Uint16Array(Math.ceil(bits.length / 2) * 2); // whole 4-byte words, byteOffset 0
    padded.set(bits);
    upload(t.buf, padded);
    return t;
  }

  static fromArray(data: ArrayLike<number>, shape: readonly number[], dtype: DType = "f32", opts: { exact?: boolean } = {}): Tensor {
    if (dtype === "f16" || dtype === "bf16") throw new Error(`fromArray: use fromBits for ${dtype} storage`);
    if (data.length !== numel(shape)) throw new Error(`fromArray: ${data.length} values for shape [${shape}]`);
    const t = new Tensor(shape, dtype, undefined, opts);
    const typed = dtype === "i32" ? (data instanceof Int32Array ? data : Int32Array.from(data)) : data instanceof Float32Array ? data : Float32Array.from(data);
    upload(t.buf, typed);
    return t;
  }
}

/** The storage type of a float tensor read as a weight (by matmul or the embedding gather). */
export function storageType(w: Tensor): Exclude<DType, "i32"> {
  if (w.dtype === "i32") throw new Error(`${w.name ?? "weight"}: an i32 tensor cannot be a weight`);
  return w.dtype;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
