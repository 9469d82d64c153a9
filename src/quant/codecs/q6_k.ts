// Q6_K codec: llama.cpp's 6-bit K-quant (256-weight super-blocks); kernels in assembly/kquants_q6k.ts.
import { kCodec } from "./kdriver.js";

export const q6K = kCodec("Q6_K", { quantize: "q6KQuantize", dequantize: "q6KDequantize" });
