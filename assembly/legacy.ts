// Kernels for the legacy and other non-K types (see assembly/index.ts).
export function _legacyPlaceholder(): i32 { return 0; }
