// Which of llama-quantize's 32 ftypes a plan is compared with: every ftype
// llama-quantize can build for this model (it aborts on a type without a
// fallback for a row length, and refuses imatrix-only types without
// --imatrix), sized from the ggml type table; by default the two just below
// and the two just above the plan's target size.
import { QuantscopeError } from "../../io/errors.js";
import { FTYPES, sizedMix, type Ftype, type MixModel, type SizedAssignment } from "./mixes.js";

export interface BuildableMix {
  readonly mix: Ftype;
  /** Sum of tensor bytes. */
  readonly bytes: number;
  /** File size (fileSize(tensor bytes) when given, else bytes + overhead). */
  readonly fileBytes: number;
  readonly tensors: readonly SizedAssignment[];
}

export interface MixMenu {
  readonly mixes: readonly BuildableMix[];
  /** Ftypes llama-quantize would not build for this model, and why. */
  readonly unbuildable: readonly { readonly mix: Ftype; readonly why: string }[];
}

export interface MixSizing {
  readonly hasImatrix: boolean;
  /** Non-tensor bytes of the file (used without fileSize). */
  readonly overheadBytes?: number;
  /** Exact file size from every tensor's bytes (GGUF sources: plan/mix-size.ts). */
  readonly fileSize?: (tensorBytes: readonly number[]) => number;
}

export function sizeMix(mix: Ftype | string, model: MixModel, s: MixSizing): BuildableMix {
  const tensors = sizedMix(mix, model, { hasImatrix: s.hasImatrix });
  const bytes = tensors.reduce((t, a) => t + a.bytes, 0);
  const fileBytes = s.fileSize ? s.fileSize(tensors.map((a) => a.bytes)) : bytes + (s.overheadBytes ?? 0);
  return { mix: mix as Ftype, bytes, fileBytes, tensors };
}

/** All 32 ftypes, sized, split into the ones llama-quantize builds for this model and the ones it would not. */
export function mixMenu(model: MixModel, s: MixSizing): MixMenu {
  const mixes: BuildableMix[] = [];
  const unbuildable: { mix: Ftype; why: string }[] = [];
  for (const f of FTYPES) {
    let m: BuildableMix;
    try {
      m = sizeMix(f, model, s);
    } catch (e) {
      if (!(e instanceof QuantscopeError)) throw e;
      unbuildable.push({ mix: f, why: e.message });
      continue;
    }
    const needs = s.hasImatrix ? undefined : m.tensors.find((a) => a.requiresImatrix);
    if (needs) unbuildable.push({ mix: f, why: `needs --imatrix (${needs.tensor} is ${needs.type})` });
    else mixes.push(m);
  }
  return { mixes, unbuildable };
}

/** The `below` largest mixes whose file is <= target and the `above` smallest larger ones, smallest first. */
export function nearestMixes(mixes: readonly BuildableMix[], targetFileBytes: number, below = 2, above = 2): BuildableMix[] {
  const order = (a: BuildableMix, b: BuildableMix) => a.fileBytes - b.fileBytes || FTYPES.indexOf(a.mix) - FTYPES.indexOf(b.mix);
  const sorted = [...mixes].sort(order);
  const lo = sorted.filter((m) => m.fileBytes <= targetFileBytes);
  const hi = sorted.filter((m) => m.fileBytes > targetFileBytes);
  return [...lo.slice(Math.max(0, lo.length - below)), ...hi.slice(0, above)];
}
