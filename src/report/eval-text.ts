// Text of `quantscope eval`: llama-perplexity's final lines and statistics
// block, same labels and number formats, so the two can be compared side by side.
import type { EvalResult } from "../model/measure/eval.js";

const f = (x: number, w: number, p: number) => x.toFixed(p).padStart(w);

export function formatEval(r: EvalResult, what: { model: string; base?: string }): string {
  const out: string[] = [];
  out.push(`quantscope eval: ${what.model}${what.base ? ` against ${what.base}` : ""}`);
  out.push(`${r.chunks} chunks of ${r.chunkSize} tokens, second half of each scored (${r.scoredTokens} tokens), ${r.seconds.toFixed(1)} s on ${r.threads} thread${r.threads > 1 ? "s" : ""}`);
  out.push(`Final estimate: PPL = ${r.ppl.value.toFixed(4)} +/- ${r.ppl.error.toFixed(5)}`);
  const k = r.kl;
  if (!k) {
    if (what.base) out.push("(fewer than 100 scored tokens: no KL statistics, as llama-perplexity)");
    return out.join("\n") + "\n";
  }
  const ve = (label: string, v: { value: number; error: number }, w = 10, p = 6) => `${label}: ${f(v.value, w, p)} ± ${f(v.error, w, p)}`;
  out.push("", "====== Perplexity statistics ======");
  out.push(ve("Mean PPL(Q)                   ", k.ppl));
  out.push(ve("Mean PPL(base)                ", k.pplBase));
  out.push(`Cor(ln(PPL(Q)), ln(PPL(base))): ${f(100 * k.corLnPpl, 6, 2)}%`);
  out.push(ve("Mean ln(PPL(Q)/PPL(base))     ", k.lnPplRatio));
  out.push(ve("Mean PPL(Q)/PPL(base)         ", k.pplRatio));
  out.push(ve("Mean PPL(Q)-PPL(base)         ", k.pplDiff));
  out.push("", "====== KL divergence statistics ======");
  out.push(ve("Mean    KLD", k.kld));
  const kp = k.kldPercentiles;
  out.push(`Maximum KLD: ${f(kp["max"]!, 10, 6)}`);
  for (const key of ["99.9%", "99.0%", "95.0%", "90.0%"]) out.push(`${key.padEnd(8)}KLD: ${f(kp[key]!, 10, 6)}`);
  out.push(`Median  KLD: ${f(kp["median"]!, 10, 6)}`);
  for (const key of ["10.0%", "5.0%", "1.0%", "0.1%"]) out.push(`${key.padStart(5).padEnd(8)}KLD: ${f(kp[key]!, 10, 6)}`);
  out.push(`Minimum KLD: ${f(kp["min"]!, 10, 6)}`);
  out.push("", "====== Token probability statistics ======");
  out.push(`Mean    Δp: ${f(100 * k.deltaP.value, 6, 3)} ± ${f(100 * k.deltaP.error, 5, 3)} %`);
  const dp = k.deltaPPercentiles;
  out.push(`Maximum Δp: ${f(100 * dp["max"]!, 6, 3)}%`);
  for (const key of ["99.9%", "99.0%", "95.0%", "90.0%", "75.0%"]) out.push(`${key.padEnd(8)}Δp: ${f(100 * dp[key]!, 6, 3)}%`);
  out.push(`Median  Δp: ${f(100 * dp["median"]!, 6, 3)}%`);
  for (const key of ["25.0%", "10.0%", "5.0%", "1.0%", "0.1%"]) out.push(`${key.padStart(5).padEnd(8)}Δp: ${f(100 * dp[key]!, 6, 3)}%`);
  out.push(`Minimum Δp: ${f(100 * dp["min"]!, 6, 3)}%`);
  out.push(`RMS Δp    : ${f(100 * k.rmsDeltaP.value, 6, 3)} ± ${f(100 * k.rmsDeltaP.error, 5, 3)} %`);
  out.push(`Same top p: ${f(100 * k.sameTop.value, 6, 3)} ± ${f(100 * k.sameTop.error, 5, 3)} %`);
  return out.join("\n") + "\n";
}
