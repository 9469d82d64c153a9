// Registers the legacy and other non-K codecs (F16 .. MXFP4).
export {};
