#!/bin/bash
# Plans from calibration against llama-quantize's mix of the same size, measured on held-out text
# (docs/sensitivity.md, "Plans from calibration, measured"). tinyqwen's calibration text is split at the
# first blank line after its middle: calibration statistics and the imatrix come from the second half
# (all of it: -c 256, every chunk), every KL from the first half (all of it too). Each plan and each mix
# is evaluated with `quantscope eval --tensor-types` (bit-exact codecs, llama.cpp's activation rounding).
#
#   bash scripts/validate/plans.sh [WORKDIR]            # about 15 CPU-minutes
#   SWAP=1 bash scripts/validate/plans.sh [WORKDIR]     # the halves' roles swapped
#   MENU=1 bash scripts/validate/plans.sh [WORKDIR]     # also plans without an imatrix over a menu widened
#                                                       # by IQ3_XXS / IQ2_S (scripts/validate/plan-menu.ts)
#   MEASURED=1 bash scripts/validate/plans.sh [WORKDIR]  # also plans on measured single-tensor KLs (+40 min)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${1:-$(mktemp -d /tmp/qs-plans-XXXXXX)}
mkdir -p "$W"
M=$ROOT/../shared/fixtures/models/tinyqwen-f16.gguf
TEXT=$ROOT/../shared/fixtures/tinyqwen/calibration.txt
Q() { (cd "$ROOT" && node --import tsx src/cli/main.ts "$@"); }
node -e '
const fs = require("fs"); const t = fs.readFileSync(process.argv[1], "latin1");
const cut = t.indexOf("\n\n", t.length >> 1);
const [a, b] = [t.slice(0, cut), t.slice(cut + 2)], swap = process.argv[3] === "1";
fs.writeFileSync(process.argv[2] + "/first.txt", swap ? b : a, "latin1");
fs.writeFileSync(process.argv[2] + "/second.txt", swap ? a : b, "latin1");' "$TEXT" "$W" "${SWAP:-}"
[ -f "$W/calib.gguf" ] || Q calibrate "$M" -f "$W/second.txt" -c 256 -o "$W/calib.gguf" --no-progress
[ -f "$W/im.gguf" ] || Q imatrix "$M" -f "$W/second.txt" -c 256 -o "$W/im.gguf" --no-progress
: > "$W/empty.tt"
kld() { node -e 'const j=require(process.argv[1]); console.log(j.kl.kld.value, j.kl.kld.error, j.ppl.value)' "$1"; }
row() { # name plan.eval mix.eval
  read -r pk pe pp < <(kld "$2"); read -r mk me mp < <(kld "$3")
  node -e 'const [n,pk,pe,mk,me,pp,mp]=process.argv.slice(1); const r=pk/mk, dr=r*Math.hypot(pe/pk, me/mk);
console.log(`| ${n} | ${(+pk).toFixed(5)} ± ${(+pe).toFixed(5)} | ${(+mk).toFixed(5)} ± ${(+me).toFixed(5)} | **${r.toFixed(3)}** ± ${dr.toFixed(3)} | ${(+pp).toFixed(4)} / ${(+mp).toFixed(4)} |`)' \
    "$1" "$pk" "$pe" "$mk" "$me" "$pp" "$mp"
}
SIZES="Q4_K_M Q3_K_M"
for size in $SIZES; do for im in no yes; do
  IMA=(); [ $im = yes ] && IMA=(--imatrix "$W/im.gguf")
  mix=$W/mix-$size-$im.eval.json
  [ -s "$mix" ] || Q eval "$M" -f "$W/first.txt" -c 256 --tensor-types "$W/empty.tt" --ftype $size "${IMA[@]}" --json --no-progress > "$mix"
  out=$W/calib-$size-$im
  [ -s "$out.tt" ] || Q plan "$M" --calib "$W/calib.gguf" "${IMA[@]}" --target-size $size --emit tensor-types -o "$out.tt" --no-progress > "$out.plan.txt"
  [ -s "$out.eval.json" ] || Q eval "$M" -f "$W/first.txt" -c 256 --tensor-types "$out.tt" "${IMA[@]}" --json --no-progress > "$out.eval.json"
  if [ "${MENU:-}" = 1 ] && [ $im = no ]; then
    [ -s "$W/widened-$size.tt" ] || (cd "$ROOT" && node --import tsx scripts/validate/plan-menu.ts "$W/calib.gguf" $size "$W") > "$W/widened-$size.plan.txt"
    [ -s "$W/widened-$size-no.eval.json" ] || Q eval "$M" -f "$W/first.txt" -c 256 --tensor-types "$W/widened-$size.tt" --json --no-progress > "$W/widened-$size-no.eval.json"
  fi
  if [ "${MEASURED:-}" = 1 ]; then
    sw=$W/sweep-measured-$im.json
    TYPES=Q2_K,Q3_K,IQ3_S,IQ4_NL,IQ4_XS,Q4_K,Q5_K,Q6_K,Q8_0; [ $im = yes ] && TYPES=$TYPES,IQ2_XS,IQ2_S,IQ3_XXS
    [ -s "$sw" ] || Q sweep "$M" "${IMA[@]}" --types $TYPES --measure-kl "$W/second.txt" --kl-tokens 2048 --chunk 256 --json --no-progress > "$sw"
    out=$W/measured-$size-$im
    [ -s "$out.tt" ] || Q plan "$M" --from "$sw" "${IMA[@]}" --damage measured --target-size $size --emit tensor-types -o "$out.tt" > "$out.plan.txt"
    [ -s "$out.eval.json" ] || Q eval "$M" -f "$W/first.txt" -c 256 --tensor-types "$out.tt" "${IMA[@]}" --json --no-progress > "$out.eval.json"
  fi
done; done
echo "| plan (source) at size, imatrix | plan KLD | mix KLD | plan / mix | PPL plan / mix |"
echo "|---|---:|---:|---:|---:|"
for size in $SIZES; do for im in no yes; do
  row "calib, $size, $im" "$W/calib-$size-$im.eval.json" "$W/mix-$size-$im.eval.json"
  [ -s "$W/widened-$size-$im.eval.json" ] && row "calib, menu + IQ3_XXS/IQ2_S (llama-quantize refuses), $size, $im" "$W/widened-$size-$im.eval.json" "$W/mix-$size-$im.eval.json"
  [ -s "$W/measured-$size-$im.eval.json" ] && row "measured, $size, $im" "$W/measured-$size-$im.eval.json" "$W/mix-$size-$im.eval.json"
done; done
echo "(work files in $W)"
