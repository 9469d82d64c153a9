// Q3_K codec: llama.cpp's 3-bit K-quant (256-weight super-blocks); kernels in assembly/kquants_q3k.ts.
import { kCodec } from "./kdriver.js";

export const q3K = kCodec("Q3_K", { quantize: "q3KQuantize", dequantize: "q3KDequantize" });
