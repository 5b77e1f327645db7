import { defineConfig } from "vite";

// The page is plain TypeScript modules; Vite serves them in development and bundles them
// (with the SDK's isomorphic root and ethers) for production.
export default defineConfig({
  build: { target: "es2022" },
});
