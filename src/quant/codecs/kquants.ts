// Registers the K-quant codecs (Q2_K .. Q6_K).
export {};
