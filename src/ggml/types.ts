// The ggml type table: ids, names, block sizes and bytes per block, as
// llama.cpp's ggml.h / ggml.c define them (facts of the format). Whether a
// type can be quantized or dequantized here is the codec registry's business
// (src/quant/registry.ts); this table only describes the storage layout.

export interface GgmlTypeInfo {
  /** enum ggml_type value, as stored in GGUF tensor infos. */
  readonly id: number;
  /** Name as llama.cpp prints it in upper case, e.g. "Q4_K". */
  readonly name: string;
  /** Weights per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const TABLE: ReadonlyArray<readonly [number, string, number, number]> = [
  [0, "F32", 1, 4],
  [1, "F16", 1, 2],
  [2, "Q4_0", 32, 18],
  [3, "Q4_1", 32, 20],
  [6, "Q5_0", 32, 22],
  [7, "Q5_1", 32, 24],
  [8, "Q8_0", 32, 34],
  [9, "Q8_1", 32, 36],
  [10, "Q2_K", 256, 84],
  [11, "Q3_K", 256, 110],
  [12, "Q4_K", 256, 144],
  [13, "Q5_K", 256, 176],
  [14, "Q6_K", 256, 210],
  [15, "Q8_K", 256, 292],
  [16, "IQ2_XXS", 256, 66],
  [17, "IQ2_XS", 256, 74],
  [18, "IQ3_XXS", 256, 98],
  [19, "IQ1_S", 256, 50],
  [20, "IQ4_NL", 32, 18],
  [21, "IQ3_S", 256, 110],
  [22, "IQ2_S", 256, 82],
  [23, "IQ4_XS", 256, 136],
  [24, "I8", 1, 1],
  [25, "I16", 1, 2],
  [26, "I32", 1, 4],
  [27, "I64", 1, 8],
  [28, "F64", 1, 8],
  [29, "IQ1_M", 256, 56],
  [30, "BF16", 1, 2],
  [34, "TQ1_0", 256, 54],
  [35, "TQ2_0", 256, 66],
  [39, "MXFP4", 32, 17],
  [40, "NVFP4", 64, 36],
  [41, "Q1_0", 128, 18],
  [42, "Q2_0", 64, 18],
];

const BY_ID = new Map<number, GgmlTypeInfo>();
const BY_NAME = new Map<string, GgmlTypeInfo>();
for (const [id, name, blockSize, typeSize] of TABLE) {
  const info: GgmlTypeInfo = Object.freeze({ id, name, blockSize, typeSize });
  BY_ID.set(id, info);
  BY_NAME.set(name, info);
}

/** Type by enum value; undefined for ids this table does not know. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/** Type by name, case-insensitive ("q4_k", "Q4_K"); undefined if unknown. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

export function allGgmlTypes(): GgmlTypeInfo[] {
  return [...BY_ID.values()];
}

/** Bits per weight of the storage format (typeSize * 8 / blockSize). */
export function bitsPerWeight(t: GgmlTypeInfo): number {
  return (t.typeSize * 8) / t.blockSize;
}

/** Bytes of one row of `cols` weights; cols must be a multiple of the block size. */
export function rowBytes(t: GgmlTypeInfo, cols: number): number {
  return (cols / t.blockSize) * t.typeSize;
}
