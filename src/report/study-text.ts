export { formatStudySeed as formatStudyText } from "./study-seed-text.js";
