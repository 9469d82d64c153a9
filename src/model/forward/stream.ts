// The forward pass for models too big to hold as float32: only one layer's
// weights are in memory at a time (dequantized from any TensorSource into
// buffers reused from layer to layer), token embedding rows are read on
// demand and the output head is applied in row blocks. A batch of chunks goes
// through each layer together, so every weight read serves several chunks.
//
// Each layer runs through the same runLayer as the in-memory path (its
// ForwardModel view holds that layer's tensors only), and every kernel treats
// tokens independently (attention within a chunk), so a chunk's results are
// bit-identical to the in-memory forward pass whatever the batch.
import { QuantscopeError } from "../../io/errors.js";
import type { TensorSource } from "../../io/source.js";
import { forwardConfig, type ForwardConfig, type ForwardModel } from "./model.js";
import { matmul, rmsNorm } from "./ops.js";
import { layerOptions, runLayer, type RunOptions } from "./run.js";
import { registerWeightType } from "./act-numerics.js";
import { decodeF16Into, f16BlockBytes, kernelArena, kernelMemoryBuffer, kernelStaging, reserveKernelScratch } from "./matmul-wasm.js";

/** Total parameters of a source (what decides between in-memory and streamed passes). */
export function sourceParams(src: TensorSource): number {
  return src.tensors().reduce((s, t) => s + t.rows * t.cols, 0);
}

export interface StreamOptions {
  /** Keep the output head as float32 when it is at most this many bytes (default 256 MiB); else row blocks. */
  readonly headCacheBytes?: number;
  /** Rows of the head per block when streaming it (default: about 64 MiB of float32). */
  readonly headBlockRows?: number;
  /** Matmul input rounding (see LoadOptions in model.ts); default "exact". */
  readonly numerics?: "exact" | "llama";
  /**
   * Rewrites `rows` rows of a tensor in place as they are read (eval's simulated
   * quantization, applied layer by layer); returns the type the rows now stand
   * for (their matmul input rounding), or undefined when it left them alone.
   */
  readonly rewrite?: TensorRewrite;
  /** Share layer buffers with another streamed model (default: its own). */
  readonly pool?: LayerPool;
}

/**
 * Layer buffers shared by streamed models that run one after the other over
 * the same batch (eval's base and evaluated side): one layer in memory for
 * both. Whoever loaded last owns the contents; the other reloads.
 */
export class LayerPool {
  readonly buffers = new Map<string, Float32Array>();
  owner: object | undefined;
  headBlock: Float32Array | undefined;
}

// The streamed model whose layer the kernel module's layer arena (matmul-wasm.ts) holds: one per thread.
let arenaOwner: object | undefined;

/** Stored F16 bytes read per step into the kernel module's staging area. */
const F16_STEP_BYTES = 2 << 20;

export type TensorRewrite = (name: string, data: Float32Array, rows: number, cols: number) => string | undefined;

/** Time spent by the streamed models of this thread (for benchmarks): reading/dequantizing, layers, head (CPU time is the process's: meaningful with one thread). */
export const streamStats = { readSeconds: 0, layerSeconds: 0, headSeconds: 0, layers: 0, layerCpuSeconds: 0, headCpuSeconds: 0 };
const cpuSeconds = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;

export class StreamedModel {
  readonly config: ForwardConfig;
  private readonly pool: LayerPool;
  private readonly layer = new Map<string, Float32Array>();
  private readonly globals = new Map<string, Float32Array>();
  private readonly headName: string;
  private headCache: Float32Array | undefined;
  private readonly headBlockRows: number;
  private loaded = -1;
  private readonly numerics: "exact" | "llama";
  private readonly headType: string;
  private readonly rewrite: TensorRewrite | undefined;

  constructor(readonly src: TensorSource, opts: StreamOptions = {}) {
    this.config = forwardConfig(src);
    const names = new Set(src.tensors().map((t) => t.name));
    for (const n of ["output_norm.weight"]) this.globals.set(n, src.read(n).data);
    this.headName = names.has("output.weight") ? "output.weight" : "token_embd.weight";
    const V = this.config.vocab, E = this.config.nEmbd;
    const headBytes = V * E * 4;
    this.numerics = opts.numerics ?? "exact";
    this.rewrite = opts.rewrite;
    this.pool = opts.pool ?? new LayerPool();
    this.headType = src.tensor(this.headName).type;
    if (headBytes <= (opts.headCacheBytes ?? 256 * 2 ** 20)) {
      this.headCache = this.timedRead(() => src.read(this.headName).data);
      this.prepare(this.headName, this.headCache, V, E, this.headType);
    }
    this.headBlockRows = Math.max(1, Math.min(V, opts.headBlockRows ?? Math.floor((64 * 2 ** 20) / (4 * E))));
  }

  /** The rewrite (if any), then the matmul input rounding of the type the rows stand for. */
  private prepare(name: string, w: Float32Array, rows: number, cols: number, stored: string): void {
    const type = this.rewrite?.(name, w, rows, cols) ?? stored;
    if (this.numerics === "llama") registerWeightType(w, type);
  }

  private timedRead<T>(f: () => T): T {
    const t0 = performance.now();
    try { return f(); } finally { streamStats.readSeconds += (performance.now() - t0) / 1000; }
  }

  /**
   * The ForwardModel view holding layer l's tensors (read on first use, buffers reused). Weight
   * matrices go to the kernel module's layer arena, where the matmuls read them without a copy:
   * F16 matrices as their stored bytes (the matmul decodes them block by block) unless a rewrite
   * needs their values, the rest decoded to float32 there; norm vectors, and everything without
   * the FMA module, to the pool's buffers.
   */
  layerView(l: number): ForwardModel {
    // (a memory grow since the load, e.g. for the head, detached the arena's views: the kernels still find
    // the weights, but JS slices of them (MoE experts) would not, so the layer is read again)
    const stale = this.inArena && (arenaOwner !== this || this.arenaBuffer !== kernelMemoryBuffer());
    if (this.loaded !== l || this.pool.owner !== this || stale) {
      this.pool.owner = this;
      this.layer.clear();
      const prefix = `blk.${l}.`;
      const infos = this.src.tensors().filter((t) => t.name.startsWith(prefix));
      const matrices = infos.filter((t) => t.shape.length >= 2);
      // scratch for the F16 staging steps, so that reading does not grow the memory (detaching the views)
      const staging = Math.max(0, ...matrices.map((t) => (t.type === "F16" ? this.stagingBytes(t.cols) : 0)));
      const half = matrices.map((t) => t.type === "F16" && t.shape.length === 2 && !this.rewrite && this.src.readRaw !== undefined);
      // and the batch's kernel scratch after the (possibly larger) arena: no grow within the layer
      const arena = kernelArena(matrices.map((t) => t.rows * t.cols), half, Math.max(staging + 65536, this.scratchNeed));
      this.inArena = arena !== null;
      if (arena) arenaOwner = this;
      this.arenaBuffer = kernelMemoryBuffer();
      for (const t of infos) {
        const n = t.rows * t.cols;
        let w: Float32Array;
        if (arena && t.shape.length >= 2) {
          const a = arena[matrices.indexOf(t)]!;
          w = a.w;
          if (a.raw) {
            const raw = a.raw;
            this.timedRead(() => {
              const r = this.src.readRaw!(t.name, 0, t.rows, raw);
              if (r.length !== raw.length) throw new Error(`internal error: ${t.name}: ${r.length} bytes read, ${raw.length} expected`);
              if (r.buffer !== raw.buffer || r.byteOffset !== raw.byteOffset) raw.set(r); // a source that does not read into `into`
            });
          } else this.timedRead(() => this.readInto(t.name, t.type, t.rows, t.cols, w));
        } else {
          const key = t.name.slice(prefix.length);
          let buf = this.pool.buffers.get(key);
          if (!buf || buf.length < n) { buf = new Float32Array(n); this.pool.buffers.set(key, buf); }
          const data = this.timedRead(() => this.src.read(t.name, buf).data);
          w = data.length === n ? data : data.subarray(0, n);
        }
        if (t.shape.length >= 2) this.prepare(t.name, w, t.rows, t.cols, t.type);
        this.layer.set(t.name, w);
      }
      for (const [k, v] of this.globals) this.layer.set(k, v);
      this.loaded = l;
    }
    return { config: this.config, weights: this.layer };
  }

  private inArena = false;
  private arenaBuffer: ArrayBuffer | undefined;
  /** Kernel scratch bytes the current batch needs (set by hidden). */
  private scratchNeed = 0;

  /** A whole tensor into w (rows × cols): F16 read in steps into kernel memory and decoded there, else through the source. */
  private readInto(name: string, type: string, rows: number, cols: number, w: Float32Array): void {
    const src = this.src;
    if (type !== "F16" || !src.readRaw) { src.read(name, w); return; }
    const step = this.stagingBytes(cols) / (2 * cols);
    for (let r = 0; r < rows; r += step) {
      const n = Math.min(step, rows - r);
      const raw = src.readRaw(name, r, n, kernelStaging(2 * n * cols));
      decodeF16Into(raw, n * cols, w, r * cols);
    }
  }

  /** Bytes of whole F16 rows of `cols` values read per step (about F16_STEP_BYTES, at least one row). */
  private stagingBytes(cols: number): number {
    return Math.max(1, Math.floor(F16_STEP_BYTES / (2 * cols))) * 2 * cols;
  }

  /** Kernel scratch for a T-token batch of `chunk`-token chunks: the largest matmul, SwiGLU, FFN or attention call (plus 64 B alignment slack each). */
  private scratchBytes(T: number, chunk: number): number {
    const c = this.config;
    const qd = c.nHead * c.headDim, kd = c.nHeadKv * c.headDim, ff = Math.max(c.nFf, c.nFfExp);
    const dims = [c.nEmbd, qd, kd, ff, c.nExpert];
    let mm = 0;
    for (const a of dims) for (const b of dims) mm = Math.max(mm, a + b);
    const n = Math.min(chunk, T);
    // matmul: input + output; SwiGLU: gate, up, output; fused FFN (matmul-wasm ffnWasm): input, gate, up, output
    return 4 * Math.max(T * mm, 3 * T * ff, 2 * T * (c.nEmbd + ff), n * (2 * qd + 2 * kd) + 4 * (n + 4)) + Math.max(...dims.map(f16BlockBytes)) + 4 * ff + 65536; // + imatrix's column sums during the FFN's capture
  }

  /** Token embedding rows of `tokens`, read one row at a time. */
  embed(tokens: Int32Array): Float32Array {
    const { nEmbd, vocab } = this.config;
    const h = new Float32Array(tokens.length * nEmbd);
    const row = new Float32Array(nEmbd);
    this.timedRead(() => {
      for (let t = 0; t < tokens.length; t++) {
        const id = tokens[t]!;
        if (id < 0 || id >= vocab) throw new QuantscopeError(`forward pass: token id ${id} outside the vocabulary (0..${vocab - 1})`);
        const r = this.src.readRows("token_embd.weight", id, 1, row).data.subarray(0, nEmbd);
        this.rewrite?.("token_embd.weight", r, 1, nEmbd); // a row lookup: no matmul, no input rounding
        h.set(r, t * nEmbd);
      }
    });
    return h;
  }

  /** Final norm and output head of T rows of h: logits (T × vocab), the head applied in row blocks. */
  headLogits(h: Float32Array, T: number, out: Float32Array = new Float32Array(T * this.config.vocab)): Float32Array {
    const t0 = performance.now(), c0 = process.cpuUsage();
    try { return this.head(h, T, out); } finally {
      streamStats.headSeconds += (performance.now() - t0) / 1000;
      streamStats.headCpuSeconds += cpuSeconds(process.cpuUsage(c0));
    }
  }

  private head(h: Float32Array, T: number, out: Float32Array): Float32Array {
    const { nEmbd: E, vocab: V, eps } = this.config;
    const x = rmsNorm(h.subarray(0, T * E), E, this.globals.get("output_norm.weight")!, eps);
    if (this.headCache) return matmul(x, T, E, this.headCache, V, out);
    const B = this.headBlockRows;
    if (!this.pool.headBlock || this.pool.headBlock.length < B * E) this.pool.headBlock = new Float32Array(B * E);
    const block = this.pool.headBlock;
    const y = new Float32Array(T * B);
    for (let r0 = 0; r0 < V; r0 += B) {
      const n = Math.min(B, V - r0);
      const w = this.timedRead(() => this.src.readRows(this.headName, r0, n, block).data); // exactly n × E
      this.prepare(this.headName, w, n, E, this.headType);
      matmul(x, T, E, w, n, y);
      for (let t = 0; t < T; t++) out.set(y.subarray(t * n, (t + 1) * n), t * V + r0);
    }
    return out;
  }

  /**
   * Runs all layers over a batch of chunks (each `chunk` tokens, attending
   * within itself): returns the final residual stream (T × nEmbd; with
   * opts.keepFrom, only rows ≥ keepFrom of each chunk are final).
   */
  hidden(tokens: Int32Array, chunk: number, opts: RunOptions = {}): Float32Array {
    if (opts.overrides) throw new Error("internal error: overrides are not supported by the streamed forward pass");
    const T = tokens.length;
    const h = this.embed(tokens);
    // no memory grow (which detaches the arena's views) within a layer: reserved here and, after a
    // larger arena, by layerView
    this.scratchNeed = this.scratchBytes(T, chunk);
    reserveKernelScratch(this.scratchNeed);
    for (let l = 0; l < this.config.nLayer; l++) {
      const t0 = performance.now(), c0 = process.cpuUsage();
      runLayer(this.layerView(l), h, T, chunk, l, layerOptions(opts, l, this.config.nLayer));
      streamStats.layerSeconds += (performance.now() - t0) / 1000;
      streamStats.layerCpuSeconds += cpuSeconds(process.cpuUsage(c0));
      streamStats.layers++;
    }
    return h;
  }
}
