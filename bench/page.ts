/**
 * The mail-server page's load time, to the figures shown: from navigation until every listed
 * server shows its offer, the probes' measures and its rank, in headless Chromium against a
 * `hardhat node` over JSON-RPC. 3 servers against 100. Each server's signed offer is served by a
 * loopback HTTP server of its own (as each operator serves its own, so the browser's six
 * connections per host do not queue them), and one registered probe's signed report covers them
 * all. Beside the page, the same SDK calls it makes are timed from Node to say what dominates.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Wallet, parseUnits } from "ethers";
import { network } from "hardhat";
import { chromium } from "playwright-core";
import {
  CuratorClient,
  PROBE_KIND_NAME,
  ProviderClient,
  RegistryClient,
  TrustPolicy,
  buildNodeEnr,
  encodeOffer,
  fetchOfferHttp,
  rankNodes,
  fetchProbeReportsHttp,
  signOffer,
  signProbeReport,
  summarizeReports,
  trustedProbeIds,
  verifyNodes,
  verifyOffer,
  verifyProbeReport,
  type SignedOffer,
} from "@status/mailserver-sdk";
import { setupAppChain } from "../scripts/app/chain.js";
import { startAppServer } from "../scripts/app/serve.js";
import { CHROMIUM, FLAGS, PHONE } from "../test/helpers/appBrowser.js";
import { startHardhatNode } from "../test/helpers/hardhatCli.js";
import type { ServerRow } from "./server.js";

const RUNS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Median time of `run`, ms. */
async function timed(run: () => Promise<unknown>, runs = RUNS): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** What the profile is asked about: the page's own steps, by function name (the bundle is built unminified). */
const STEPS = ["verifyOffer", "verifyProbeReport", "verifyNodes", "rankNodes", "renderServers", "fetchOfferHttp", "(program)", "(garbage collector)"];

/**
 * One load under the V8 sampling profiler: for each step, the time the CPU spent in it or in what
 * it called (each sample counted once per step on its stack), plus the browser's native work.
 */
async function profileLoad(page: import("playwright-core").Page, url: string, count: number): Promise<{ steps: { name: string; ms: number }[]; busyMs: number; wallMs: number }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  const t0 = performance.now();
  await page.goto(url);
  await page.locator("li.server .facts").nth(count - 1).waitFor({ timeout: 60_000 });
  const wallMs = performance.now() - t0;
  const { profile } = await cdp.send("Profiler.stop");
  await cdp.detach();
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const total = new Map<string, number>();
  let busyMs = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const ms = (deltas[i + 1] ?? 0) / 1000;
    const names = new Set<string>();
    for (let id: number | undefined = samples[i]; id !== undefined; id = parent.get(id)) names.add(byId.get(id)!.callFrame.functionName);
    if (!names.has("(idle)")) busyMs += ms;
    for (const name of names) if (STEPS.includes(name)) total.set(name, (total.get(name) ?? 0) + ms);
  }
  return { steps: STEPS.map((name) => ({ name, ms: total.get(name) ?? 0 })).sort((a, b) => b.ms - a.ms), busyMs, wallMs };
}

export async function measurePage(): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const node = await startHardhatNode();
  const servers: Server[] = [];
  let browserContext: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  let profile: string | undefined;
  try {
    const connection = await network.create({ network: "localhost", override: { url: node.url } });
    const chain = await setupAppChain(connection, node.url);
    const { addresses, chainId } = chain.config;
    const status = await connection.ethers.getSigner(chain.providers.status);
    const provider = new ProviderClient({ runner: status, addresses });
    await new CuratorClient({ runner: status, addresses }).setKindEnabled(PROBE_KIND_NAME, true);
    const probeKey = Wallet.createRandom().privateKey;
    await provider.addNode({ nodeKey: probeKey, kind: PROBE_KIND_NAME, record: "/ip4/127.0.0.1/tcp/8090", pricePerMonth: 0 });
    const registry = new RegistryClient({ runner: connection.ethers.provider, addresses });

    const nodes = chain.servers.map((s) => ({ nodeId: s.nodeId, key: s.nodeKey }));
    const offerUrls: Record<string, string> = {};
    const serveOffer = async (n: { nodeId: string; key: string }) => {
      const signed: SignedOffer = await signOffer(n.key, {
        chainId, registry: addresses.registry, escrow: addresses.escrow, token: addresses.token, pricePerMonth: parseUnits("20", 18).toString(),
        months: { min: 1, max: 12 }, mode: "freemium", free: { queriesPerMinute: 120, burst: 200, maxConcurrent: 4 },
        retention: { maxAgeSeconds: 30 * 86_400, maxBytes: 10 * 2 ** 30 }, capacity: { maxConcurrentQueries: 64, maxPaidQueue: 256 },
        clusterId: 16, shards: [32], software: "bench", contact: "ops@example.org", issuedAt: Math.floor(Date.now() / 1000),
      });
      const body = encodeOffer(signed);
      const server = createServer((_req, res) => res.writeHead(200, { "access-control-allow-origin": "*", "content-type": "application/json", "content-length": body.length }).end(body));
      servers.push(server);
      offerUrls[n.nodeId] = `${await listen(server)}/offer`;
    };
    let reports: unknown = { reports: [] };
    const reportServer = createServer((_req, res) => {
      const body = JSON.stringify(reports);
      res.writeHead(200, { "access-control-allow-origin": "*", "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    });
    servers.push(reportServer);
    const reportUrl = `${await listen(reportServer)}/reports`;
    const signReports = async () => {
      const now = Math.floor(Date.now() / 1000);
      const measures = nodes.map((n, i) => ({
        nodeId: n.nodeId,
        availability: { attempts: 12, successes: 12 },
        latencyMs: { samples: 12, p50: 20 + (i % 50), p99: 90 + (i % 50) },
        completeness: { markers: 24, found: 24, medianDelayMs: 700 },
        retention: { checked: 6, droppedEarly: 0, keptPastAdvertised: 0 },
      }));
      reports = { reports: [await signProbeReport(probeKey, { chainId, registry: addresses.registry, periodStart: now - 3600, periodEnd: now - 60, issuedAt: now - 30, nodes: measures })] };
    };

    profile = await mkdtemp(path.join(tmpdir(), "bench-page-"));
    browserContext = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: PHONE });
    const page = browserContext.pages()[0] ?? (await browserContext.newPage());
    const policy = new TrustPolicy();

    const scenario = async (count: number) => {
      for (const n of nodes) if (offerUrls[n.nodeId] === undefined) await serveOffer(n);
      await signReports();
      const config = { ...chain.config, offerUrls, quality: { reportUrls: [reportUrl] } };
      const app = await startAppServer(config, "preview");
      try {
        await page.goto(app.url); // warm: the bundle cached as a returning user has it
        await page.locator("li.server .facts").nth(count - 1).waitFor({ timeout: 60_000 });
        const pageMs = await timed(async () => {
          await page.goto(app.url);
          await page.locator("li.server .facts").nth(count - 1).waitFor({ timeout: 60_000 });
        });
        // Profiled on the same page built unminified, so that functions keep their names.
        let hot: Awaited<ReturnType<typeof profileLoad>> | undefined;
        if (count >= 100) {
          const readable = await startAppServer(config, "preview", { minify: false });
          try {
            await page.goto(readable.url);
            await page.locator("li.server .facts").nth(count - 1).waitFor({ timeout: 60_000 });
            hot = await profileLoad(page, readable.url, count);
          } finally {
            await readable.close();
          }
        }
        // The page's calls, from Node, one concern at a time.
        const ids = await registry.allNodesByKind("mailserver");
        const listing = await timed(() => verifyNodes(registry, ids, { policy, kind: "mailserver" }));
        const signed = new Map<string, SignedOffer>();
        const offersMs = await timed(async () => {
          await Promise.all(ids.map(async (id) => signed.set(id, await fetchOfferHttp(offerUrls[id]!))));
        });
        const qualityMs = await timed(async () => {
          const [trusted, list] = await Promise.all([trustedProbeIds(registry), fetchProbeReportsHttp(reportUrl)]);
          return summarizeReports(list.flatMap((r) => {
            const v = verifyProbeReport(r, { trustedProbes: trusted, chainId, registry: addresses.registry });
            return v.ok ? [v.report] : [];
          }));
        });
        const quality = summarizeReports(((reports as { reports: Parameters<typeof verifyProbeReport>[0][] }).reports).map((r) => r.report));
        const price = parseUnits("20", 18);
        const checkMs = await timed(async () => {
          for (const id of ids) verifyOffer(signed.get(id)!, { nodeId: id, chainId, registryPrice: price });
        });
        const rankMs = await timed(async () => rankNodes(ids.map((id) => ({ nodeId: id, verdict: "trusted" as const, rttMs: null, offer: signed.get(id)!.offer, quality: quality.get(id) ?? null }))));
        return { pageMs, listing, offersMs, qualityMs, checkMs, rankMs, hot };
      } finally {
        await app.close();
      }
    };

    const small = await scenario(3);
    for (let i = nodes.length; i < 100; i++) {
      const key = Wallet.createRandom().privateKey;
      const { enr } = buildNodeEnr({ privateKey: key, ip: "127.0.0.1", udp: 32000 + i, tcp: 32000 + i });
      nodes.push({ nodeId: (await provider.addNode({ nodeKey: key, record: enr, pricePerMonth: parseUnits("20", 18) })).nodeId, key });
    }
    const large = await scenario(100);
    const row = (measure: string, value: number, baseline: number): ServerRow => ({ measure, value, baseline, ...(baseline > 0 ? { ratio: value / baseline } : {}), unit: "ms" });
    const rows = [
      row("page: load to every server's figures shown, 100 servers (baseline 3)", large.pageMs, small.pageMs),
      row("  registry reads + trust verdicts (verifyNodes), Node", large.listing, small.listing),
      row("  offers over HTTP, one server each, in parallel, Node", large.offersMs, small.offersMs),
      row("  probe reports: trusted probes + fetch + verify + fold, Node", large.qualityMs, small.qualityMs),
      row("  offer checks (verifyOffer: ECDSA recovery each), Node", large.checkMs, small.checkMs),
      row("  ranking (rankNodes), Node", large.rankMs, small.rankMs),
    ];
    const parts = [
      ["registry reads", large.listing],
      ["offer reads", large.offersMs],
      ["probe reports", large.qualityMs],
      ["offer signature checks", large.checkMs],
      ["ranking", large.rankMs],
    ] as const;
    const hot = large.hot!;
    const waitMs = Math.max(0, hot.wallMs - hot.busyMs);
    const notes = [
      `page (Chromium, warm bundle, median of ${RUNS}): ${Math.round(small.pageMs)} ms with 3 servers, ${Math.round(large.pageMs)} ms with 100`,
      `one profiled load of 100 servers took ${Math.round(hot.wallMs)} ms, the page's CPU busy ${Math.round(hot.busyMs)} ms of it and waiting ${Math.round(waitMs)} ms: ${waitMs > hot.busyMs ? "waiting dominates: the page's steps are serial round trips (registry list, then offers and reports, then the batched trust read, then provider names)" : "CPU work dominates"}`,
      `CPU by step (each with what it calls; verifyNodes includes the offers' checks): ${hot.steps.map((h) => `${h.name} ${Math.round(h.ms)} ms`).join(", ")}`,
      `timed from Node, the same calls at 100 servers: ${parts.map(([name, ms]) => `${name} ${Math.round(ms)} ms`).join(", ")}; the registry costs a constant number of RPC calls (one batched trust read per 100 nodes, one read per provider), while offers cost one HTTP read and one ECDSA recovery per server`,
    ];
    return { rows, notes };
  } finally {
    await browserContext?.close().catch(() => undefined);
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    for (const server of servers) server.close();
    await node.stop();
  }
}
