// Imports every codec module so that each registers itself.
import "./legacy.js"; // F16, BF16, Q4_0..Q8_0, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4
import "./kquants.js"; // Q2_K..Q6_K
import "./lowbit.js"; // NVFP4, Q1_0, Q2_0
import "./iq3.js"; // IQ3_XXS, IQ3_S
import "./iq2.js"; // IQ2_XXS, IQ2_XS, IQ2_S
import "./iq1.js"; // IQ1_S, IQ1_M
