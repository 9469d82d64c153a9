// Q5_K codec: llama.cpp's 5-bit K-quant (256-weight super-blocks); kernels in assembly/kquants_q5k.ts.
import { kCodec } from "./kdriver.js";

export const q5K = kCodec("Q5_K", { quantize: "q5KQuantize", dequantize: "q5KDequantize" });
