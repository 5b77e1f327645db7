// The real MiniMe token for the tests: see deploy/minime.ts (shared with the benchmark).
export { deployMiniMe, MINIME_ABI, MINIME_BYTECODE } from "../../deploy/minime.js";
