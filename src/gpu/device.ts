// The one Dawn instance, adapter and device of the process.
//
// Under Bun, if the object returned by `create()` or the adapter becomes unreachable, GC frees it
// while Dawn still processes events and the process segfaults in `InstanceBase::ProcessEvents`.
// So `initGpu` pins all three in a module-level record and on `globalThis` for the life of the
// process (see test/gpu/device.test.ts, which forces GC between creation and dispatch).
import { create, globals } from "webgpu";

Object.assign(globalThis, globals);

/** Optional features we use when the adapter has them. */
const WANTED_FEATURES = ["shader-f16", "subgroups", "timestamp-query"] as const;

export interface Gpu {
  instance: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  /** Adapter name, vendor, architecture and description as Dawn reports them, and the backend. */
  info: { name: string; vendor: string; architecture: string; description: string; backend: string };
  features: Set<string>;
  limits: Record<string, number>;
  hasF16: boolean;
  hasSubgroups: boolean;
  hasTimestamps: boolean;
}

export interface GpuOptions {
  /** Print the adapter, features and limits to stderr. */
  verbose?: boolean;
  /** Replaces `webgpu.create`; tests use it to simulate a machine with no adapter. */
  createInstance?: (flags: string[]) => GPU;
}

export class NoGpuAdapterError extends Error {
  constructor() {
    super(
      "No WebGPU adapter found: Dawn needs a Vulkan driver.\n" +
        "  Debian/Ubuntu: run scripts/setup.sh, or add bookworm-backports and\n" +
        "    apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1   (Mesa >= 24; Mesa 22.3 is rejected by Dawn)\n" +
        "  NVIDIA: install the proprietary driver with its Vulkan ICD (check with `vulkaninfo --summary`).\n" +
        "  macOS: Metal is built in; Windows: D3D12 is built in.",
    );
    this.name = "NoGpuAdapterError";
  }
}

/** Dawn's native backend per platform (the one `create()` picks when no backend flag is given). */
const BACKENDS: Record<string, string> = { linux: "vulkan", win32: "d3d12", darwin: "metal" };

let held: Gpu | undefined;
let pending: Promise<Gpu> | undefined;

/** Creates (once) and returns the process-wide GPU. Concurrent callers share one initialisation. */
export function initGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (opts.createInstance) return createGpu(opts); // simulated instance: never becomes the process GPU
  if (held) return Promise.resolve(held);
  pending ??= createGpu(opts).then((g) => {
    held = g;
    (globalThis as { __latroGpu?: Gpu }).__latroGpu = g;
    return g;
  });
  return pending;
}

/** The GPU created by `initGpu`; throws if it has not been awaited yet. */
export function gpu(): Gpu {
  if (!held) throw new Error("GPU not initialised: await initGpu() before recording GPU work");
  return held;
}

async function createGpu(opts: GpuOptions): Promise<Gpu> {
  process.env.XDG_RUNTIME_DIR ??= "/tmp";
  const flags = ["disable-dawn-features=timestamp_quantization"];
  const instance = (opts.createInstance ?? create)(flags);
  const adapter = await instance.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NoGpuAdapterError();
  const available = new Set<string>(adapter.features as unknown as Iterable<string>);
  const requiredFeatures = WANTED_FEATURES.filter((f) => available.has(f)) as GPUFeatureName[];
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    // Dynamic-offset limits are not used and Dawn warns when they are requested at their maximum.
    if (typeof v === "number" && !key.startsWith("maxDynamic")) limits[key] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits: limits });
  device.addEventListener("uncapturederror", (e) => {
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  const ai = adapter.info;
  const g: Gpu = {
    instance,
    adapter,
    device,
    info: {
      name: ai.device || ai.description || "unknown",
      vendor: ai.vendor,
      architecture: ai.architecture,
      description: ai.description,
      backend: BACKENDS[process.platform] ?? "unknown",
    },
    features: new Set(requiredFeatures),
    limits,
    hasF16: requiredFeatures.includes("shader-f16"),
    hasSubgroups: requiredFeatures.includes("subgroups"),
    hasTimestamps: requiredFeatures.includes("timestamp-query"),
  };
  if (opts.verbose) console.error(describeGpu(g));
  return g;
}

/**
 * True on CPU Vulkan implementations (lavapipe/llvmpipe, SwiftShader), where launchers pick the
 * variants and tiles that suit a CPU (e.g. matmul_direct, smaller attention tiles).
 */
export function isCpuAdapter(): boolean {
  const { info } = gpu();
  return info.architecture === "software" || /llvmpipe|lavapipe|swiftshader/i.test(`${info.name} ${info.description}`);
}

/** Adapter name, features and the limits that matter for kernels, as printed by --verbose and bench. */
export function describeGpu(g: Gpu): string {
  const l = g.limits;
  return [
    `adapter: ${g.info.description || g.info.name} (vendor ${g.info.vendor || "?"}, arch ${g.info.architecture || "?"}, backend ${g.info.backend})`,
    `features: ${[...g.features].join(", ") || "none"}`,
    `limits: maxStorageBufferBindingSize=${l.maxStorageBufferBindingSize} maxBufferSize=${l.maxBufferSize} ` +
      `maxComputeWorkgroupStorageSize=${l.maxComputeWorkgroupStorageSize} ` +
      `maxComputeInvocationsPerWorkgroup=${l.maxComputeInvocationsPerWorkgroup} ` +
      `maxComputeWorkgroupsPerDimension=${l.maxComputeWorkgroupsPerDimension} ` +
      `maxStorageBuffersPerShaderStage=${l.maxStorageBuffersPerShaderStage}`,
  ].join("\n");
}
