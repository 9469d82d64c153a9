// Q2_K codec: llama.cpp's 2-bit K-quant (256-weight super-blocks); kernels in assembly/kquants_q2k.ts.
import { kCodec } from "./kdriver.js";

export const q2K = kCodec("Q2_K", { quantize: "q2KQuantize", dequantize: "q2KDequantize" });
