// The calibration measurements as a small committed fixture
// (test/fixtures/calibration-kl.json, written by `scripts/validate/sweep.ts
// --write-fixture`): per (tensor, type) only what fitGains / evaluate read,
// so CI can fit and score gain tables without the slow forward passes.
import type { SweepRecord } from "../../src/analysis/sweep/types.js";
import type { GainCoefficients } from "../../src/analysis/sensitivity/gain-table.js";
import { GAIN } from "../../src/analysis/sensitivity/gain-table.js";
import type { KlDataset } from "./data.js";

/**
 * Prior for gain keys a fit has no data for: only the fixed fallback `other`
 * (set by hand, fitted on nothing). "+qknorm" keys then fall back to the plain
 * kind's fitted gain (logGain's lookup), kinds missing altogether to `other`.
 */
export const NEUTRAL_PRIOR: Readonly<Record<string, GainCoefficients>> = { other: GAIN.other! };

export interface CalibrationFixture {
  readonly note: string;
  readonly sets: readonly { readonly dataset: KlDataset; readonly records: readonly CompactRecord[] }[];
}

type CompactRecord = Pick<SweepRecord, "tensor" | "kind" | "gainKey" | "layer" | "nLayers" | "requestedType" | "type" | "outputRelErr" | "relRmse" | "outputErrorSource" | "measuredKl"> & { skipped?: string };

export function calibrationFixture(sets: readonly KlDataset[], records: readonly (readonly SweepRecord[])[]): CalibrationFixture {
  return {
    note: "single-tensor KLs measured by quantscope's reference forward pass (sweep --measure-kl, imatrix); regenerate with: node --import tsx scripts/validate/sweep.ts --write-fixture",
    sets: sets.map((dataset, i) => ({
      dataset,
      records: records[i]!.map((r) => ({
        tensor: r.tensor, kind: r.kind, gainKey: r.gainKey, layer: r.layer, nLayers: r.nLayers, requestedType: r.requestedType, type: r.type,
        outputRelErr: r.outputRelErr, relRmse: r.relRmse, outputErrorSource: r.outputErrorSource, measuredKl: r.measuredKl,
        ...(r.skipped ? { skipped: r.skipped } : {}),
      })),
    })),
  };
}

/** The fixture's records as SweepRecords (fields fitGains / evaluate do not read are absent). */
export function fixtureRecords(f: CalibrationFixture, id: string): SweepRecord[] {
  const s = f.sets.find((x) => x.dataset.id === id);
  if (!s) throw new Error(`calibration fixture has no set ${id}`);
  return s.records as unknown as SweepRecord[];
}
