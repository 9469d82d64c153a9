// The calibration file: a llama-imatrix GGUF (general.type = "imatrix",
// imatrix.* KVs, `<name>.in_sum2` and `<name>.counts` for every block matrix,
// exactly what src/io/imatrix-write.ts writes, so llama-quantize --imatrix
// accepts it and quantizes as with llama-imatrix's file) plus gradient
// statistics under names llama-quantize ignores:
//   <name>.out_grad2         Σ_t E[g_o²] per output row (ne = [rows, 1]), every matrix incl. the head
//   <head>.head_in_sum2      Σ_t x_j² of the output head's input (kept out of in_sum2: llama-imatrix
//                            does not store the head, and llama-quantize would use it)
//   token_embd.weight.row_grad2 / .col_grad2   the embedding's gradient energy per token row / column
//   <name>.fisher_rows / .fisher_cols    row and column sums of Σ_chunks (∂L/∂W_oj)², the squared
//                            whole-chunk weight gradient (the Fisher diagonal SqueezeLLM stores in full)
//   token_embd.weight.lookup_fisher_rows / .lookup_fisher_cols   the same for the embedding lookup
// and KVs calibrate.token_count, calibrate.samples, calibrate.fisher.
// Expert tensors (3-D ffn_*_exps) store every statistic per expert as a 2-D
// tensor, experts in ne1: in_sum2 ne = [cols, experts] with counts [1, experts]
// (the (token, slot) rows routed to each expert), exactly as llama-imatrix;
// out_grad2 and fisher_rows [rows, experts], fisher_cols [cols, experts].
import { GgufValueType } from "../../io/gguf-header.js";
import { encodeGguf, type GgufWriteTensor } from "../../io/gguf-write.js";
import { GgufSource } from "../../io/gguf.js";
import { fileError } from "../../io/errors.js";
import { EMBED, type CalibStats } from "./collect.js";

/** Block matrices llama-imatrix records (the head and token_embd are not among them). */
function isImatrixWeight(name: string): boolean {
  return name.startsWith("blk.");
}

function f32Bytes(a: Float32Array): Uint8Array {
  const b = new Uint8Array(a.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i]!, true);
  return b;
}

export interface CalibWriteMeta {
  readonly datasets: readonly string[];
}

export function encodeCalibGguf(st: CalibStats, meta: CalibWriteMeta): Buffer {
  const kvs = [
    { key: "general.type", type: GgufValueType.STRING, value: "imatrix" },
    { key: "imatrix.datasets", type: GgufValueType.ARRAY, arrayType: GgufValueType.STRING, value: [...meta.datasets] },
    { key: "imatrix.chunk_count", type: GgufValueType.UINT32, value: st.chunks },
    { key: "imatrix.chunk_size", type: GgufValueType.UINT32, value: st.chunkSize },
    { key: "calibrate.token_count", type: GgufValueType.UINT32, value: st.tokens },
    { key: "calibrate.samples", type: GgufValueType.UINT32, value: st.samples },
    { key: "calibrate.fisher", type: GgufValueType.STRING, value: "sampled labels from the model's own next-token distribution" },
  ];
  const tensors: GgufWriteTensor[] = [];
  /** One vector per matrix: ne = [length / matrices, matrices] (matrices = experts of an expert tensor, else 1). */
  const vec = (name: string, a: Float32Array, matrices = 1) => tensors.push({ name, shape: [a.length / matrices, matrices], type: "F32", data: f32Bytes(a) });
  const experts = (name: string) => st.expertCounts.get(name)?.length ?? 1;
  const names = [...new Set([...st.inSum2.keys(), ...st.outGrad2.keys()])].sort();
  for (const name of names) {
    const x = st.inSum2.get(name), g = st.outGrad2.get(name), ne = experts(name);
    if (x && isImatrixWeight(name)) {
      vec(`${name}.in_sum2`, x, ne);
      const counts = st.expertCounts.get(name);
      vec(`${name}.counts`, counts ? Float32Array.from(counts) : Float32Array.of(st.tokens), ne);
    } else if (x) vec(`${name}.head_in_sum2`, x);
    if (g) vec(`${name}.out_grad2`, g, ne);
  }
  for (const [key, r] of st.fisherRows) {
    const base = key === EMBED ? "token_embd.weight.lookup_" : `${key}.`;
    vec(`${base}fisher_rows`, r, experts(key));
    vec(`${base}fisher_cols`, st.fisherCols.get(key)!, experts(key));
  }
  vec("token_embd.weight.row_grad2", st.embRowGrad2);
  vec("token_embd.weight.col_grad2", st.embColGrad2);
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return encodeGguf(kvs, tensors);
}

/** Statistics read back from a calibration file, normalised per token. */
export interface CalibData {
  readonly path: string;
  readonly tokens: number;
  /** Weight name -> mean x_j² per column (in_sum2 or head_in_sum2, / tokens). */
  readonly inMean2: Map<string, Float32Array>;
  /** Weight name -> mean E[g_o²] per row (/ tokens). */
  readonly gradMean2: Map<string, Float32Array>;
  /** token_embd: Σ over its occurrences of E[‖g‖²] per token row, / tokens. */
  readonly embRow: Float32Array | null;
  /** token_embd: column weights Σ_t E[g_j²], normalised to sum 1. */
  readonly embCol: Float32Array | null;
  /**
   * Weight name (EMBED for the lookup) -> Fisher-diagonal marginals: rows / tokens, columns normalised to
   * sum 1 (per expert for an expert tensor: `groups` experts, rows and cols concatenated expert by expert).
   */
  readonly fisher: Map<string, { rows: Float32Array; cols: Float32Array; groups: number }>;
  /** Expert tensors -> experts; their inMean2 is per expert (in_sum2 / that expert's count), gradMean2 concatenated per expert. */
  readonly experts: Map<string, number>;
}

/** Reads the gradient statistics of a calibration file; null when the file has none (a plain imatrix). */
export function readCalib(path: string): CalibData | null {
  const src = new GgufSource(path);
  try {
    const infos = src.tensors();
    if (!infos.some((t) => t.name.endsWith(".out_grad2"))) return null;
    const tc = src.metadata.get("calibrate.token_count");
    const tokens = typeof tc === "number" || typeof tc === "bigint" ? Number(tc) : NaN;
    if (!(tokens > 0)) throw fileError(path, "has gradient statistics but no calibrate.token_count", 0, "calibrate.token_count");
    const inMean2 = new Map<string, Float32Array>(), gradMean2 = new Map<string, Float32Array>();
    const per = (name: string) => { const d = src.read(name).data; const o = new Float32Array(d.length); for (let i = 0; i < d.length; i++) o[i] = d[i]! / tokens; return o; };
    let embRow: Float32Array | null = null, embCol: Float32Array | null = null;
    /** Normalised to sum 1 in each of its `groups` equal parts (one per expert). */
    const share = (name: string, groups = 1) => {
      const d = src.read(name).data;
      const out = new Float32Array(d.length), n = d.length / groups;
      for (let g = 0; g < groups; g++) {
        let s = 0;
        for (let i = g * n; i < (g + 1) * n; i++) s += d[i]!;
        for (let i = g * n; i < (g + 1) * n; i++) out[i] = s > 0 ? d[i]! / s : 0;
      }
      return out;
    };
    const info = (name: string) => infos.find((i) => i.name === name);
    type Info = { name: string; shape: readonly number[]; offset?: bigint };
    /** Matrices a statistic holds (ne1; 1 for a vector), checked against its companion's. */
    const groupsOf = (t: Info, other?: Info) => {
      const g = t.shape[1] ?? 1;
      if (!(g >= 1) || t.shape.length > 2) throw fileError(path, `shape [${t.shape.join(", ")}] is not [length, matrices]`, t.offset, `tensor "${t.name}"`);
      if (other && (other.shape[1] ?? 1) !== g) throw fileError(path, `holds ${g} matrices but ${other.name} holds ${other.shape[1] ?? 1}`, t.offset, `tensor "${t.name}"`);
      return g;
    };
    /** An expert tensor's in_sum2 / counts, expert by expert (0 for an expert no token reached). */
    const perExpert = (t: Info, base: string): Float32Array => {
      const ct = info(`${base}.counts`);
      if (!ct) throw fileError(path, `has no matching ${base}.counts`, t.offset, `tensor "${t.name}"`);
      const groups = groupsOf(t, ct);
      const d = src.read(t.name).data, counts = src.read(ct.name).data, n = d.length / groups;
      return Float32Array.from(d, (v, i) => { const c = counts[Math.floor(i / n)]!; return c > 0 ? v / c : 0; });
    };
    const fisher = new Map<string, { rows: Float32Array; cols: Float32Array; groups: number }>();
    const experts = new Map<string, number>();
    for (const t of infos) {
      const m = /^(.*?)\.(lookup_)?fisher_rows$/.exec(t.name);
      if (!m) continue;
      const cname = t.name.replace(/fisher_rows$/, "fisher_cols");
      const ct = info(cname);
      if (!ct) throw fileError(path, `has no matching ${cname}`, t.offset, `tensor "${t.name}"`);
      const groups = groupsOf(t, ct);
      fisher.set(m[2] ? EMBED : m[1]!, { rows: per(t.name), cols: share(cname, groups), groups });
      if (groups > 1) experts.set(m[1]!, groups);
    }
    for (const t of infos) {
      const m = /^(.*)\.(in_sum2|head_in_sum2|out_grad2|row_grad2|col_grad2)$/.exec(t.name);
      if (!m) continue;
      const [, base, what] = m;
      if (what === "in_sum2" && (t.shape[1] ?? 1) > 1) inMean2.set(base!, perExpert(t, base!));
      else if (what === "in_sum2" || what === "head_in_sum2") inMean2.set(base!, per(t.name));
      else if (what === "out_grad2") gradMean2.set(base!, per(t.name));
      else if (what === "row_grad2") embRow = per(t.name);
      else embCol = share(t.name);
    }
    return { path, tokens, inMean2, gradMean2, embRow, embCol, fisher, experts };
  } finally {
    src.close();
  }
}
