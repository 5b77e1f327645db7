/**
 * Browser bundle size of the SDK's root entry: what an app ships, minified and gzipped, with
 * ethers left out (it is the SDK's peer, which the app bundles once for itself). Bundled with
 * esbuild for the browser from the built package (`sdk/dist`), as an app's bundler would see it.
 * Baseline of the same run: ethers itself, bundled and compressed the same way.
 */
import path from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export interface BundleRow {
  measure: string;
  /** Minified bytes. */
  minified: number;
  /** Gzipped bytes (level 9). */
  gzipped: number;
  /** gzipped size / ethers' gzipped size. */
  ofEthers?: number;
}

const ROOT = path.resolve(import.meta.dirname, "..");

async function measure(measure: string, contents: string, external: string[]): Promise<BundleRow> {
  const result = await build({
    stdin: { contents, resolveDir: ROOT, sourcefile: "entry.js", loader: "js" },
    bundle: true,
    platform: "browser",
    format: "esm",
    minify: true,
    external,
    write: false,
    logLevel: "silent",
  });
  if (result.warnings.length > 0) throw new Error(`${measure}: ${result.warnings.map((w) => w.text).join("; ")}`);
  const code = result.outputFiles[0]!.contents;
  return { measure, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

export async function measureBundle(): Promise<BundleRow[]> {
  const ethers = await measure("ethers 6 (all of it; baseline)", `export * from "ethers";`, []);
  const rows = [
    await measure("SDK root, every export", `export * from "@status/mailserver-sdk";`, ["ethers"]),
    await measure(
      "SDK root, an app's imports (RegistryClient, SubscriptionClient, verifyNodes, TrustPolicy)",
      `export { RegistryClient, SubscriptionClient, verifyNodes, TrustPolicy } from "@status/mailserver-sdk";`,
      ["ethers"],
    ),
  ];
  for (const row of rows) row.ofEthers = row.gzipped / ethers.gzipped;
  return [...rows, ethers];
}
