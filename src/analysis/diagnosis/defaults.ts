// Defaults of the diagnosis that the CLI shows in --help, in a module with no
// heavy imports so the CLI can read them without loading the report.

/** Activation rows used for the measured output error (column power uses every row read). */
export const DEFAULT_OUTPUT_TOKENS = 256;
