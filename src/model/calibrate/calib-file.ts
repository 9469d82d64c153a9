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
  const vec = (name: string, a: Float32Array) => tensors.push({ name, shape: [a.length, 1], type: "F32", data: f32Bytes(a) });
  const names = [...new Set([...st.inSum2.keys(), ...st.outGrad2.keys()])].sort();
  for (const name of names) {
    const x = st.inSum2.get(name), g = st.outGrad2.get(name);
    if (x && isImatrixWeight(name)) {
      vec(`${name}.in_sum2`, x);
      tensors.push({ name: `${name}.counts`, shape: [1, 1], type: "F32", data: f32Bytes(Float32Array.of(st.tokens)) });
    } else if (x) vec(`${name}.head_in_sum2`, x);
    if (g) vec(`${name}.out_grad2`, g);
  }
  for (const [key, r] of st.fisherRows) {
    const base = key === EMBED ? "token_embd.weight.lookup_" : `${key}.`;
    vec(`${base}fisher_rows`, r);
    vec(`${base}fisher_cols`, st.fisherCols.get(key)!);
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
  /** Weight name (EMBED for the lookup) -> Fisher-diagonal marginals: rows / tokens, columns normalised to sum 1. */
  readonly fisher: Map<string, { rows: Float32Array; cols: Float32Array }>;
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
    const share = (name: string) => {
      const d = src.read(name).data;
      let s = 0;
      for (const v of d) s += v;
      return Float32Array.from(d, (v) => (s > 0 ? v / s : 0));
    };
    const fisher = new Map<string, { rows: Float32Array; cols: Float32Array }>();
    for (const t of infos) {
      const m = /^(.*?)\.(lookup_)?fisher_rows$/.exec(t.name);
      if (!m) continue;
      const cname = t.name.replace(/fisher_rows$/, "fisher_cols");
      if (!infos.some((i) => i.name === cname)) throw fileError(path, `has no matching ${cname}`, t.offset, `tensor "${t.name}"`);
      fisher.set(m[2] ? EMBED : m[1]!, { rows: per(t.name), cols: share(cname) });
    }
    for (const t of infos) {
      const m = /^(.*)\.(in_sum2|head_in_sum2|out_grad2|row_grad2|col_grad2)$/.exec(t.name);
      if (!m) continue;
      const [, base, what] = m;
      if (what === "in_sum2" || what === "head_in_sum2") inMean2.set(base!, per(t.name));
      else if (what === "out_grad2") gradMean2.set(base!, per(t.name));
      else if (what === "row_grad2") embRow = per(t.name);
      else embCol = share(t.name);
    }
    return { path, tokens, inMean2, gradMean2, embRow, embCol, fisher };
  } finally {
    src.close();
  }
}
