// llama-perplexity's statistics. Perplexity: exp(mean NLL) over the scored
// positions (second half of each chunk). KL mode: the base model's
// log-probabilities are kept the way llama-perplexity stores them in its
// --kl-divergence-base file (uint16 levels between the max logit and 16 nats
// below it), so the KL, Δp and same-top figures follow its formulas exactly.

/** Base log-probabilities of one position, compressed like llama-perplexity. */
export interface CompressedLogProbs {
  readonly scale: number;
  readonly minLogProb: number;
  readonly levels: Uint16Array;
}

function nearestInt(x: number): number {
  // round half to even, like ggml's nearest_int
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One row of logits (length V at offset o) -> llama-perplexity's uint16 log-probabilities. */
export function compressLogProbs(logits: Float32Array, o: number, V: number): CompressedLogProbs {
  let max = logits[o]!, min = logits[o]!;
  for (let i = 1; i < V; i++) {
    const x = logits[o + i]!;
    if (x > max) max = x;
    if (x < min) min = x;
  }
  min = Math.max(min, max - 16);
  let sumExp = 0;
  for (let i = 0; i < V; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[o + i]! - max)));
  const logSumExp = Math.fround(Math.log(sumExp));
  const minLogProb = Math.fround(min - max - logSumExp);
  const scale = Math.fround((max - min) / 65535);
  const levels = new Uint16Array(V);
  if (scale) {
    const inv = Math.fround(1 / scale);
    for (let i = 0; i < V; i++) {
      const x = logits[o + i]!;
      levels[i] = x > min ? nearestInt(Math.fround(inv * Math.fround(x - min))) : 0;
    }
  }
  return { scale, minLogProb, levels };
}

/** What llama-perplexity's KL mode computes at one scored position. */
export interface PositionKl {
  nll: number;
  nllBase: number;
  kl: number;
  pDiff: number;
  sameTop: boolean;
}

/** One position: logits row `o` (length V) of the model, target `tok`, the base's compressed log-probs. */
export function positionKl(logits: Float32Array, o: number, V: number, tok: number, base: CompressedLogProbs): PositionKl {
  let max = logits[o]!, imax = 0;
  for (let i = 1; i < V; i++) if (logits[o + i]! > max) { max = logits[o + i]!; imax = i; }
  let sumExp = 0;
  for (let i = 0; i < V; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[o + i]! - max)));
  const logSumExp = Math.fround(Math.log(sumExp));
  const { scale, minLogProb, levels } = base;
  const nll = Math.fround(max + logSumExp - logits[o + tok]!);
  const nllBase = Math.fround(-(scale * levels[tok]! + minLogProb));
  const lse = Math.fround(max + logSumExp);
  let kl = 0, imaxBase = -1, baseMax = 0;
  for (let i = 0; i < V; i++) {
    const lpb = Math.fround(scale * levels[i]! + minLogProb);
    if (i === 0 || lpb > baseMax) { baseMax = lpb; imaxBase = i; }
    if (lpb > -16) kl += Math.fround(Math.exp(lpb)) * Math.fround(lpb - logits[o + i]! + lse);
  }
  const pDiff = Math.fround(Math.fround(Math.exp(-nll)) - Math.fround(Math.exp(-nllBase)));
  return { nll, nllBase, kl, pDiff, sameTop: imax === imaxBase };
}

/** Running sums and per-token values of llama-perplexity's KL mode (its kl_divergence_result). */
export class KlAccumulator {
  sumNll = 0;
  sumNll2 = 0;
  sumNllBase = 0;
  sumNllBase2 = 0;
  sumNllNllBase = 0;
  sumKld = 0;
  sumKld2 = 0;
  sumPDiff = 0;
  sumPDiff2 = 0;
  sumPDiff4 = 0;
  maxPDiff = 0;
  sameTop = 0;
  count = 0;
  readonly kld: number[] = [];
  readonly pDiff: number[] = [];

  /** Position with logits row `o` of `logits` (length V), target token `tok`, base log-probs `base`. */
  add(logits: Float32Array, o: number, V: number, tok: number, base: CompressedLogProbs): void {
    this.push(positionKl(logits, o, V, tok, base));
  }

  push(p: PositionKl): void {
    this.sumNll += p.nll;
    this.sumNll2 += p.nll * p.nll;
    this.sumNllBase += p.nllBase;
    this.sumNllBase2 += p.nllBase * p.nllBase;
    this.sumNllNllBase += p.nll * p.nllBase;
    this.sumKld += p.kl;
    this.sumKld2 += p.kl * p.kl;
    this.count++;
    if (p.sameTop) this.sameTop++;
    const pd = p.pDiff;
    this.sumPDiff += pd;
    this.sumPDiff2 += pd * pd;
    this.sumPDiff4 += pd * pd * pd * pd;
    this.maxPDiff = Math.max(this.maxPDiff, Math.abs(pd));
    this.kld.push(p.kl);
    this.pDiff.push(pd);
  }
}

/** llama-perplexity's mean and its standard error (0 below 11 values). */
export function meanAndUncertainty(sum: number, sum2: number, n: number): [number, number] {
  if (n < 1) return [0, 0];
  const f = sum / n;
  let df = sum2 / n - f * f;
  df = df > 0 && n > 10 ? Math.sqrt(df / (n - 1)) : 0;
  return [f, df];
}

function covariance(a: number, b: number, ab: number, n: number): number {
  if (n < 10) return 0;
  return (ab / n - (a / n) * (b / n)) / (n - 1);
}

/** Linear-interpolated percentile of sorted values, as llama-perplexity computes it. */
function percentile(sorted: readonly number[], fraction: number): number {
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[sorted.length - 1]!;
  let p = Math.fround(fraction * (sorted.length - 1));
  const ip = Math.floor(p);
  p -= ip;
  return (1 - p) * sorted[ip]! + p * sorted[Math.min(ip + 1, sorted.length - 1)]!;
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  return n % 2 === 0 ? 0.5 * (sorted[n / 2]! + sorted[n / 2 - 1]!) : sorted[(n - 1) / 2]!;
}

export interface ValueWithError {
  readonly value: number;
  readonly error: number;
}

export interface KlReport {
  readonly tokens: number;
  readonly ppl: ValueWithError;
  readonly pplBase: ValueWithError;
  readonly corLnPpl: number;
  readonly lnPplRatio: ValueWithError;
  readonly pplRatio: ValueWithError;
  readonly pplDiff: ValueWithError;
  readonly kld: ValueWithError;
  /** Percentiles of per-token KL: max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min. */
  readonly kldPercentiles: Readonly<Record<string, number>>;
  readonly deltaP: ValueWithError;
  readonly deltaPPercentiles: Readonly<Record<string, number>>;
  readonly rmsDeltaP: ValueWithError;
  readonly sameTop: ValueWithError;
}

const KLD_FRACTIONS: ReadonlyArray<readonly [string, number]> = [["99.9%", 0.999], ["99.0%", 0.99], ["95.0%", 0.95], ["90.0%", 0.9]];
const KLD_LOW: ReadonlyArray<readonly [string, number]> = [["10.0%", 0.1], ["5.0%", 0.05], ["1.0%", 0.01], ["0.1%", 0.001]];
const DP_FRACTIONS: ReadonlyArray<readonly [string, number]> = [...KLD_FRACTIONS, ["75.0%", 0.75]];
const DP_LOW: ReadonlyArray<readonly [string, number]> = [["25.0%", 0.25], ...KLD_LOW];

/** The statistics block llama-perplexity prints at the end of a KL run. */
export function klReport(a: KlAccumulator): KlReport {
  const n = a.count;
  const [lp, lpE] = meanAndUncertainty(a.sumNll, a.sumNll2, n);
  const [lb, lbE] = meanAndUncertainty(a.sumNllBase, a.sumNllBase2, n);
  const cov = covariance(a.sumNll, a.sumNllBase, a.sumNllNllBase, n);
  const ppl = Math.exp(lp), pplBase = Math.exp(lb);
  const ratioE = Math.sqrt(lpE * lpE + lbE * lbE - 2 * cov);
  const pplE = ppl * lpE, pplBaseE = pplBase * lbE;
  const [kl, klE] = meanAndUncertainty(a.sumKld, a.sumKld2, n);
  const [dp, dpE] = meanAndUncertainty(a.sumPDiff, a.sumPDiff2, n);
  const [mse, mseE] = meanAndUncertainty(a.sumPDiff2, a.sumPDiff4, n);
  const rms = Math.sqrt(mse);
  const top = a.sameTop / n;
  const kSorted = Float64Array.from(a.kld).sort();
  const dSorted = Float64Array.from(a.pDiff).sort();
  const ks = Array.from(kSorted), ds = Array.from(dSorted);
  const pct = (s: number[], hi: ReadonlyArray<readonly [string, number]>, lo: ReadonlyArray<readonly [string, number]>) => ({
    max: s[s.length - 1]!,
    ...Object.fromEntries(hi.map(([k, f]) => [k, percentile(s, f)])),
    median: median(s),
    ...Object.fromEntries(lo.map(([k, f]) => [k, percentile(s, f)])),
    min: s[0]!,
  });
  return {
    tokens: n,
    ppl: { value: ppl, error: pplE },
    pplBase: { value: pplBase, error: pplBaseE },
    corLnPpl: cov / (lpE * lbE),
    lnPplRatio: { value: lp - lb, error: ratioE },
    pplRatio: { value: Math.exp(lp - lb), error: Math.exp(lp - lb) * ratioE },
    pplDiff: { value: ppl - pplBase, error: Math.sqrt(pplE * pplE + pplBaseE * pplBaseE - 2 * ppl * pplBase * cov) },
    kld: { value: kl, error: klE },
    kldPercentiles: pct(ks, KLD_FRACTIONS, KLD_LOW),
    deltaP: { value: dp, error: dpE },
    deltaPPercentiles: pct(ds, DP_FRACTIONS, DP_LOW),
    rmsDeltaP: { value: rms, error: (0.5 / rms) * mseE },
    sameTop: { value: top, error: Math.sqrt((top * (1 - top)) / (n - 1)) },
  };
}

/** Negative log-likelihood of token `tok` under logits row `o` (f32 steps, as llama-perplexity). */
export function positionNll(logits: Float32Array, o: number, V: number, tok: number): number {
  let max = logits[o]!;
  for (let i = 1; i < V; i++) if (logits[o + i]! > max) max = logits[o + i]!;
  let sumExp = 0;
  for (let i = 0; i < V; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[o + i]! - max)));
  return Math.fround(max + Math.fround(Math.log(sumExp)) - logits[o + tok]!);
}

/** Perplexity of a plain run (no base): llama-perplexity's "Final estimate". */
export class PplAccumulator {
  nll = 0;
  nll2 = 0;
  count = 0;
  add(logits: Float32Array, o: number, V: number, tok: number): void {
    this.push(positionNll(logits, o, V, tok));
  }
  push(v: number): void {
    this.nll += v;
    this.nll2 += v * v;
    this.count++;
  }
  /** PPL and its uncertainty as llama-perplexity prints them. */
  estimate(): ValueWithError {
    const n = this.count;
    const av = this.nll / n;
    let av2 = this.nll2 / n - av * av;
    av2 = av2 > 0 ? Math.sqrt(av2 / (n - 1)) : av2;
    const ppl = Math.exp(av);
    return { value: ppl, error: av2 * ppl };
  }
}
