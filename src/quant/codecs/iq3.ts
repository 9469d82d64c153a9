// IQ3_XXS and IQ3_S codecs: llama.cpp's 3-bit grid types (256-weight
// super-blocks), kernels in assembly/iq3*.ts. ggml does not require an imatrix
// for them (ggml_quantize_requires_imatrix) but uses one when given; NaN/Inf
// input is rejected like every block type (ggml defines no result for it).
// Input so large that ggml's f32 sums overflow makes ggml abort (GGML_ASSERT);
// the kernel flags that and the codec turns it into a QuantscopeError.
import { QuantscopeError } from "../../io/errors.js";
import type { Codec } from "../codec.js";
import { registerCodec } from "../registry.js";
import { kernelCodec, type KernelCodecSpec } from "../kernelCodec.js";
import { kernels } from "../wasm.js";

function takeAbort(): boolean {
  return (kernels().iq3_take_abort as () => number)() !== 0;
}

function abortError(name: string, src: Float32Array): QuantscopeError {
  let amax = 0;
  for (let i = 0; i < src.length; i++) amax = Math.max(amax, Math.abs(src[i]!));
  return new QuantscopeError(
    `${name}: input too large for ggml's IQ3 search (max |x| = ${amax.toExponential(2)}): ` +
      `its f32 sums overflow and llama.cpp aborts (GGML_ASSERT); scale the tensor down`,
  );
}

function iq3Codec(spec: KernelCodecSpec): Codec {
  const c = kernelCodec(spec);
  const guard = <T>(src: Float32Array, run: () => T): T => {
    takeAbort();
    const out = run();
    if (takeAbort()) throw abortError(spec.name, src);
    return out;
  };
  return {
    ...c,
    quantize: (src, rows, cols, im) => guard(src, () => c.quantize(src, rows, cols, im)),
    quantizeInto: (src, rows, cols, im, out) => guard(src, () => c.quantizeInto!(src, rows, cols, im, out)),
  };
}

registerCodec(iq3Codec({ name: "IQ3_XXS", kernel: "iq3_xxs", imatrix: "optional", nonFinite: "reject" }));
registerCodec(iq3Codec({ name: "IQ3_S", kernel: "iq3_s", imatrix: "optional", nonFinite: "reject" }));
