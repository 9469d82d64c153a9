// JSON form of a StudyResult (schema: docs/study-json.md). The result is
// plain data already; this only fixes the layout of the text.
import type { StudyResult } from "../analysis/study/types.js";

export function formatStudyJson(r: StudyResult): string {
  return JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n";
}
