/**
 * `npm run bench`: gas per operation and SDK throughput in one run, printed as one table and
 * written to bench/results.json. A benchmark, not a test: nothing here fails on speed.
 */
import { network } from "hardhat";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { measureBundle, type BundleRow } from "./bundle.js";
import { bucketModel, bucketTable, gasTable, measureGas } from "./gas.js";
import { measureSdk, type SdkRow } from "./sdk.js";
import { measurePage } from "./page.js";
import { measureProbe } from "./probe.js";
import { measureRelay } from "./relay.js";
import { measureResume } from "./resume.js";
import { measureServer, type ServerRow } from "./server.js";
import { archiveTable, measureArchive } from "./archive.js";
import { measureSockets, socketsTable } from "./sockets.js";


/** Numbers as the table shows them: thousands separated, at most two decimals. */
const num = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2 });

function sdkTable(rows: SdkRow[]): string {
  const header = ["measure", "SDK/indexed", "baseline", "ratio", "unit"];
  const body = rows.map((r) => [
    r.measure, num(r.sdk), r.baseline === undefined ? "" : num(r.baseline), r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`, r.unit,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

function bundleTable(rows: BundleRow[]): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const header = ["bundle", "minified", "gzipped", "of ethers"];
  const body = rows.map((r) => [r.measure, kb(r.minified), kb(r.gzipped), r.ofEthers === undefined ? "" : `${r.ofEthers.toFixed(2)}x`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

function serverTable(rows: ServerRow[]): string {
  const header = ["measure", "value", "baseline", "ratio", "unit"];
  const body = rows.map((r) => [r.measure, num(r.value), r.baseline === undefined ? "" : num(r.baseline), r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`, r.unit]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

async function main(): Promise<void> {
  const started = performance.now();
  const connection = await network.create();
  const gas = await measureGas(connection);
  console.log("\nGas (in-process network, optimizer as shipped; floor = 21,000 + calldata + token transfer + required storage)\n");
  console.log(gasTable(gas));
  const buckets = bucketModel(gas);
  console.log("\nExpiry buckets, day-wide vs week-wide (model of a node's sales over two years, priced with the subscribe rows above)\n");
  console.log(bucketTable(buckets));

  const sdk = await measureSdk();
  console.log("\nSDK throughput (hardhat node on 127.0.0.1 over JSON-RPC; ratio = how many times better the SDK/indexed figure is)\n");
  console.log(sdkTable(sdk.rows));
  for (const note of sdk.notes) console.log(`  - ${note}`);

  const bundle = await measureBundle();
  console.log("\nBrowser bundle of the SDK root (esbuild, platform browser, minified; ethers external, as the peer the app bundles)\n");
  console.log(bundleTable(bundle));

  const server = await measureServer();
  console.log("\nMail server (loopback, @waku/sdk 0.0.36 libp2p connections, raw store v3 / lightpush v3; ratio = value / baseline)\n");
  console.log(serverTable(server.rows));
  for (const note of server.notes) console.log(`  - ${note}`);

  const load = await measureApart("loadOnly");
  console.log("\nA subscriber under load (freemium, limits as shipped; ratio = under load / alone)\n");
  console.log(serverTable(load.rows));
  for (const note of load.notes) console.log(`  - ${note}`);

  const sockets = await measureSockets();
  console.log("\nIdle sockets: new clients while N silent TCP sockets are held (ratio = time to connect / with none)\n");
  console.log(socketsTable(sockets.rows));
  for (const note of sockets.notes) console.log(`  - ${note}`);

  const relay = await measureRelay();
  console.log("\nWaku Relay ingest (loopback; ratio = server / bare gossipsub receiver of the same stream)\n");
  console.log(serverTable(relay.rows));
  for (const note of relay.notes) console.log(`  - ${note}`);

  const archiveMessages = Number(process.env.BENCH_ARCHIVE_MESSAGES ?? 1_000_000);
  const archive = await measureArchive(archiveMessages);
  console.log(`\nArchive query latency at ${archiveMessages.toLocaleString("en-US")} messages vs 1,000 (no network; ms)\n`);
  console.log(archiveTable(archive.rows, archiveMessages));
  for (const note of archive.notes) console.log(`  - ${note}`);

  const prune = await measureApart("pruneOnly");
  console.log("\nRetention (SQLite; ratio = sliced prune / one DELETE of the same rows)\n");
  console.log(serverTable(prune.rows));
  for (const note of prune.notes) console.log(`  - ${note}`);

  const resume = await measureResume();
  console.log("\nStore Resume (loopback, two mail-server nodes; ratio = value / baseline)\n");
  console.log(serverTable(resume.rows));
  for (const note of resume.notes) console.log(`  - ${note}`);

  const probe = await measureProbe();
  console.log("\nQuality probe (loopback, three mail servers meshed by relay; cost per node per round)\n");
  console.log(serverTable(probe.rows));
  for (const note of probe.notes) console.log(`  - ${note}`);

  const page = await measurePage();
  console.log("\nThe web page: load to every server's figures shown (Chromium, loopback; ratio = 100 servers / 3)\n");
  console.log(serverTable(page.rows));
  for (const note of page.notes) console.log(`  - ${note}`);

  const results = { date: new Date().toISOString(), seconds: Math.round((performance.now() - started) / 1000), gas, buckets, sdk, bundle, server, load, sockets, relay, archive, prune, resume, probe, page };
  const file = path.join(import.meta.dirname, "results.json");
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwritten to bench/results.json (${results.seconds} s)`);
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});

/**
 * A part of the bench (bench/<script>.ts) in a process of its own, with BENCH_JSON=1 so that it
 * prints its rows as one JSON line. The parts that time stalls and tails run so: in this process
 * the earlier parts' heap (the chain, the SDK's indexes) is collected during theirs and counted
 * as the server's (the prune's stalls; the subscriber under load, measured from this side).
 */
async function measureApart(script: "loadOnly" | "pruneOnly"): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const child = spawn("npx", ["hardhat", "run", `bench/${script}.ts`], { env: { ...process.env, BENCH_JSON: "1" }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  const line = out.split("\n").find((l) => l.startsWith("BENCH "));
  if (code !== 0 || line === undefined) throw new Error(`bench: bench/${script}.ts exited with ${code}`);
  return JSON.parse(line.slice(6)) as { rows: ServerRow[]; notes: string[] };
}
