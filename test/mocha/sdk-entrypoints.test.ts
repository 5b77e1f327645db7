// The SDK's entry points as an app developer meets them: the root bundles for a browser with
// esbuild and with Vite with zero warnings, the Node-only entries do not (so the check can fail),
// and the `exports` map's types resolve under TypeScript's `bundler` and `node16` resolution.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { build as esbuild, type BuildFailure, type Message, type Metafile } from "esbuild";
import { build as viteBuild, createLogger } from "vite";
import { ROOT } from "../helpers/hardhatCli.js";

const run = promisify(execFile);
const FIXTURES = path.join(ROOT, "test/fixtures");
const APP = path.join(FIXTURES, "browser-app");

interface BundleOutcome {
  errors: Message[];
  warnings: Message[];
  metafile?: Metafile;
}

/** Bundles `contents` (resolved from the fixture app's folder) for the browser, ethers external. */
async function bundleForBrowser(contents: string): Promise<BundleOutcome> {
  try {
    const result = await esbuild({
      stdin: { contents, resolveDir: APP, sourcefile: "entry.ts", loader: "ts" },
      bundle: true,
      platform: "browser",
      format: "esm",
      external: ["ethers"],
      minify: true,
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    return { errors: result.errors, warnings: result.warnings, metafile: result.metafile };
  } catch (error) {
    const failure = error as BuildFailure;
    if (!Array.isArray(failure.errors)) throw error;
    return { errors: failure.errors, warnings: failure.warnings };
  }
}

// The SDK's Node-only code, by path: the folders of the /server and /discovery entries (the
// isomorphic code they re-export lives elsewhere; test/mocha/sdk-imports.test.ts keeps it so).
const NODE_ONLY = /sdk\/dist\/(server|discovery)\/|@chainsafe\/discv5|node_modules\/secp256k1\//;

const text = (messages: Message[]) => messages.map((m) => `${m.text}${m.location ? ` (${m.location.file})` : ""}`);

describe("SDK entry points", function () {
  this.timeout(120_000);

  describe("browser bundles", () => {
    it("the app fixture (RegistryClient, SubscriptionClient, verifyNodes, TrustPolicy, request and grant signing) bundles with esbuild, zero warnings", async () => {
      const outcome = await bundleForBrowser(await readFile(path.join(APP, "main.ts"), "utf8"));
      expect(text(outcome.errors)).to.deep.equal([]);
      expect(text(outcome.warnings)).to.deep.equal([]);
      const inputs = Object.keys(outcome.metafile!.inputs);
      expect(inputs.some((i) => i.includes("sdk/dist/index.js")), "the SDK's root is in the bundle").to.equal(true);
      // Nothing Node-only came along through the root's imports: that code is two folders.
      expect(inputs.filter((i) => NODE_ONLY.test(i))).to.deep.equal([]);
      // Nor libp2p's stack (the root decodes ENRs with ethers alone).
      expect(inputs.filter((i) => /@chainsafe\/enr|@libp2p|@multiformats/.test(i))).to.deep.equal([]);
    });

    it("every export of the root bundles for the browser with zero warnings", async () => {
      const outcome = await bundleForBrowser(`export * from "@status/mailserver-sdk";`);
      expect(text(outcome.errors)).to.deep.equal([]);
      expect(text(outcome.warnings)).to.deep.equal([]);
      const inputs = Object.keys(outcome.metafile!.inputs);
      expect(inputs.filter((i) => /@chainsafe|@libp2p|@multiformats|node_modules\/secp256k1\//.test(i))).to.deep.equal([]);
      expect(inputs.filter((i) => NODE_ONLY.test(i))).to.deep.equal([]);
    });

    for (const entry of ["discovery", "server"]) {
      it(`the Node-only /${entry} entry does not bundle for the browser (it needs Node built-ins)`, async () => {
        const outcome = await bundleForBrowser(`export * from "@status/mailserver-sdk/${entry}";`);
        expect(outcome.errors.length).to.be.greaterThan(0);
        expect(text(outcome.errors).join("\n")).to.match(/node:|"(fs|os|path|dgram|crypto)"/);
      });
    }

    it("the app fixture builds with Vite (ethers bundled too) with zero warnings", async () => {
      const outDir = await mkdtemp(path.join(tmpdir(), "sdk-vite-"));
      const messages: string[] = [];
      const logger = createLogger("warn", { allowClearScreen: false });
      logger.warn = (msg) => void messages.push(`warn: ${msg}`);
      logger.warnOnce = (msg) => void messages.push(`warn: ${msg}`);
      logger.error = (msg) => void messages.push(`error: ${msg}`);
      try {
        await viteBuild({
          root: APP,
          configFile: false,
          logLevel: "warn",
          customLogger: logger,
          build: {
            outDir,
            emptyOutDir: true,
            // Rolldown's own warnings (e.g. a Node built-in externalized for the browser).
            rolldownOptions: { onwarn: (warning) => void messages.push(`rolldown: ${warning.message}`) },
          },
        });
        expect(messages).to.deep.equal([]);
        const assets = await readdir(path.join(outDir, "assets"));
        expect(assets.some((f) => f.endsWith(".js"))).to.equal(true);
      } finally {
        await rm(outDir, { recursive: true, force: true });
      }
    });
  });

  describe("types through the exports map", () => {
    const consumer = path.join(FIXTURES, "ts-consumer");
    const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
    const check = (config: string) => run(process.execPath, [tsc, "-p", path.join(consumer, config)], { cwd: consumer });

    for (const resolution of ["bundler", "node16", "nodenext"]) {
      it(`every entry point's types resolve under moduleResolution ${resolution}`, async () => {
        // The fixture also expects errors where they must be (Node-only names from the root, deep
        // imports, a wrong argument type): a tsc run that resolved to `any` would fail on those.
        await check(`tsconfig.${resolution}.json`);
      });
    }

    it("the root's declarations check without @types/node and without skipLibCheck", async () => {
      await check("tsconfig.browser.json");
    });
  });
});
