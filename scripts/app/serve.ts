// Serves the web page in app/ with Vite on a free loopback port, with /config.json (chain id,
// RPC URL, contract addresses) answered from memory so that every run can point elsewhere.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { build, createServer, preview, type Plugin } from "vite";
import type { AppConfig } from "../../app/src/config.js";

export const APP_ROOT = path.resolve(import.meta.dirname, "..", "..", "app");

export interface AppServer {
  url: string;
  close(): Promise<void>;
}

function configPlugin(config: AppConfig): Plugin {
  const body = JSON.stringify(config);
  const handler = (req: { url?: string }, res: { setHeader(k: string, v: string): void; end(b: string): void }, next: () => void) => {
    if (req.url?.split("?")[0] !== "/config.json") return next();
    res.setHeader("content-type", "application/json");
    res.setHeader("cache-control", "no-store");
    res.end(body);
  };
  return {
    name: "mailserver-app-config",
    configureServer: (server) => void server.middlewares.use(handler),
    configurePreviewServer: (server) => void server.middlewares.use(handler),
  };
}

/**
 * `dev`: Vite's development server (modules served as they are, reloads on edit).
 * `preview`: the production bundle, built into a temporary folder and served as it would ship.
 */
export async function startAppServer(config: AppConfig, mode: "dev" | "preview" = "dev", options: { minify?: boolean } = {}): Promise<AppServer> {
  const common = { root: APP_ROOT, configFile: path.join(APP_ROOT, "vite.config.ts"), logLevel: "warn" as const, plugins: [configPlugin(config)] };
  const host = { host: "127.0.0.1", port: 0, strictPort: true };
  if (mode === "dev") {
    const server = await createServer({ ...common, server: host });
    await server.listen();
    const url = server.resolvedUrls?.local[0];
    if (url === undefined) throw new Error("vite did not report its URL");
    return { url, close: () => server.close() };
  }
  const outDir = await mkdtemp(path.join(tmpdir(), "mailserver-app-"));
  // `minify: false` keeps function names, for profiling (bench/page.ts).
  await build({ ...common, build: { outDir, emptyOutDir: true, ...(options.minify === false ? { minify: false } : {}) } });
  const server = await preview({ ...common, build: { outDir }, preview: host });
  const url = server.resolvedUrls?.local[0];
  if (url === undefined) throw new Error("vite did not report its URL");
  return {
    url,
    close: async () => {
      await server.close();
      await rm(outDir, { recursive: true, force: true });
    },
  };
}
