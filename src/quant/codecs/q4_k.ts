// Q4_K codec: llama.cpp's 4-bit K-quant (256-weight super-blocks); kernels in assembly/kquants_q4k.ts.
import { kCodec } from "./kdriver.js";

export const q4K = kCodec("Q4_K", { quantize: "q4KQuantize", dequantize: "q4KDequantize" });
