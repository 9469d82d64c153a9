// Registers the K-quant codecs (Q2_K .. Q6_K).
import { registerCodec } from "../registry.js";
import { q2K } from "./q2_k.js";
import { q3K } from "./q3_k.js";
import { q4K } from "./q4_k.js";
import { q5K } from "./q5_k.js";
import { q6K } from "./q6_k.js";

for (const c of [q2K, q3K, q4K, q5K, q6K]) registerCodec(c);
