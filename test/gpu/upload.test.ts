// Uploads honour the view: every path that moves host bytes to the GPU writes exactly the bytes an
// ArrayBufferView covers (from its byteOffset, byteLength of them), for f32, i32 and 16-bit data,
// at offsets that are not multiples of 16. dawn.node's `queue.writeBuffer(buffer, offset, view)`
// ignores the view's byteOffset, which made every subarray upload write the start of its
// ArrayBuffer (Phi-3's fused qkv_proj/gate_up_proj were split into such views).
import { beforeAll, expect, test } from "bun:test";
import { Tensor } from "../../src/autograd/tensor.ts";
import { acquire, type Buf } from "../../src/gpu/buffer.ts";
import { copy, download, flush, upload } from "../../src/gpu/recorder.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { setupGpu } from "../helpers.ts";

beforeAll(setupGpu);

const BYTES = 256;
/** Host bytes 0, 1, 2, … (mod 251, so no 256-periodic pattern hides an offset error). */
const source = () => Uint8Array.from({ length: BYTES }, (_, i) => (i * 7 + 3) % 251);
const SENTINEL = 0xee;

/** A buffer of BYTES sentinel bytes. */
function sentinelBuf(): Buf {
  const b = acquire(BYTES);
  upload(b, new Uint8Array(BYTES).fill(SENTINEL));
  return b;
}

/** What `dst` must hold after writing `view` at `at`: sentinel elsewhere, the view's own bytes there. */
function expected(view: ArrayBufferView, at: number): Uint8Array {
  const want = new Uint8Array(BYTES).fill(SENTINEL);
  want.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), at);
  return want;
}

// Views of one host buffer at byte offsets 4, 12, 20, 36 (none a multiple of 16), of every element type.
function views(): { what: string; view: ArrayBufferView }[] {
  const buf = source().buffer;
  return [
    { what: "Float32Array at byte 4", view: new Float32Array(buf, 4, 5) },
    { what: "Int32Array at byte 12", view: new Int32Array(buf, 12, 7) },
    { what: "Uint16Array (f16/bf16 bits) at byte 20", view: new Uint16Array(buf, 20, 6) },
    { what: "Uint8Array at byte 36", view: new Uint8Array(buf, 36, 44) },
  ];
}

for (const path of ["plain queue write", "batched staging copy"] as const) {
  test(`upload (${path}) writes exactly the view's bytes, at destination offsets 0 and 20`, async () => {
    for (const { what, view } of views()) {
      for (const at of [0, 20]) {
        const dst = sentinelBuf();
        if (path === "batched staging copy") {
          // Something recorded and not yet submitted: the upload must go through the batch.
          copy(sentinelBuf(), 0, sentinelBuf(), 0, 4);
        } else flush();
        upload(dst, view, at);
        const got = new Uint8Array(await download(dst, BYTES));
        expect({ what, at, bytes: Array.from(got) }).toEqual({ what, at, bytes: Array.from(expected(view, at)) });
      }
    }
  });
}

test("upload of a view whose byte length is not a multiple of 4 is refused", () => {
  expect(() => upload(acquire(16), new Uint8Array(source().buffer, 4, 6))).toThrow("upload: 6 bytes is not a multiple of 4");
});

test("Tensor.fromArray uploads f32 and i32 subarrays, not the start of their buffer", async () => {
  const f = Float32Array.from({ length: 40 }, (_, i) => i + 0.5);
  const i32 = Int32Array.from({ length: 40 }, (_, i) => 1000 - i);
  const ft = Tensor.fromArray(f.subarray(9, 14), [5]);
  const it = Tensor.fromArray(i32.subarray(3, 10), [7], "i32");
  expect(Array.from(await ft.toArray())).toEqual(Array.from(f.subarray(9, 14)));
  expect(Array.from(await it.toArray())).toEqual(Array.from(i32.subarray(3, 10)));
  ft.release();
  it.release();
});

test("AdamW.loadState uploads moments given as views into one larger array", async () => {
  const params = [Tensor.fromArray(new Float32Array(3), [3]), Tensor.fromArray(new Float32Array(5), [5])];
  params.forEach((p, i) => (p.name = `p${i}`));
  const all = Float32Array.from({ length: 64 }, (_, i) => i * 0.25 - 3);
  const state = new Map([
    ["exp_avg.p0", all.subarray(1, 4)],
    ["exp_avg_sq.p0", all.subarray(5, 8)],
    ["exp_avg.p1", all.subarray(11, 16)],
    ["exp_avg_sq.p1", all.subarray(17, 22)],
  ]);
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 });
  flush(); // the constructor's zero fills are pending; flushed, loadState takes the plain queue write
  opt.loadState({ step: 7, tensors: state });
  const saved = await opt.state();
  expect(saved.step).toBe(7);
  for (const t of saved.tensors) expect([t.name, Array.from(t.data)]).toEqual([t.name, Array.from(state.get(t.name)!)]);
  opt.dispose();
  for (const p of params) p.release();
});
