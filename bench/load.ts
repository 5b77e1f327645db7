/**
 * A subscriber under load (issue #20): the store p99 of a paying subscriber alone, while a stranger
 * pushes by lightpush as fast as it can (the per-peer and total push limits answer 429 beyond what
 * they allow), and while 200 free @waku/sdk light nodes read history through @waku/sdk's own store
 * query, in `freemium`, with every limit as shipped (target: within 2x of alone). During the free
 * load a new light node tries to connect every 250 ms (target: new connections keep succeeding).
 * The server runs in its own process (bench/serverChild.mjs), the 200 free clients in another
 * (bench/loadChild.mjs); the subscriber and the stranger use bench/server.ts's raw requests over
 * @waku/sdk connections. All three share the machine's cores. Nothing fails on speed.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { createInterface } from "node:readline";
import { Wallet } from "ethers";
import { proto_lightpush } from "@waku/proto";
import { LIGHTPUSH_V3_CODEC, DEFAULT_PUSH_LIMITS } from "@status/mailserver-node";
import { client, fill, grant, queries, request, runConcurrent, startServer, type Server, type ServerRow } from "./server.js";
import type { LightNode } from "@waku/sdk";

const TOPIC = "/bench/1/chat/proto";
const FREE_CLIENTS = Number(process.env.BENCH_FREE_CLIENTS ?? 200);
const PAID_QUERIES = 500;
const CONNECT_EVERY_MS = 250;

interface LoadChildReport {
  counts: { reads: number; readsFailed: number; errors: Record<string, number> };
  newcomers: { attempted: number; connected: number; times: number[]; errors: Record<string, number> };
  rssMb: number;
}

/** Starts bench/loadChild.mjs; resolves once its clients are connected, with a `stop` that resolves to its counts. */
async function freeLoad(server: Server) {
  const child = spawn(
    process.execPath,
    ["--max-old-space-size=6144", path.join(import.meta.dirname, "loadChild.mjs"), JSON.stringify({ address: server.node.multiaddrs[0], contentTopic: TOPIC, clients: FREE_CLIENTS, connectEveryMs: CONNECT_EVERY_MS })],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: undefined }))]);
    if (line.done === true || line.value === undefined) throw new Error("bench load child exited early");
    return JSON.parse(line.value as string) as unknown;
  };
  const ready = (await next()) as { attempted: number; connected: number; setupSeconds: number };
  return {
    ready,
    async stop(): Promise<LoadChildReport> {
      child.stdin!.write("stop\n");
      const report = (await next()) as LoadChildReport;
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      return report;
    },
    kill: () => child.kill("SIGKILL"),
  };
}

/** A stranger's lightpush flood: 16 pushes in flight until stopped; counts of answers by status. */
function pushFlood(stranger: LightNode, server: Server, pubsubTopic: string) {
  let pushing = true;
  const codes = new Map<number, number>();
  let failed = 0;
  const started = performance.now();
  const done = runConcurrent(
    1e9,
    16,
    async (i) => {
      const message = { payload: new TextEncoder().encode(`stranger ${i} ${"y".repeat(200)}`), contentTopic: TOPIC, timestamp: BigInt(Date.now()) * 1_000_000n };
      try {
        const answer = proto_lightpush.LightPushResponseV3.decode(await request(stranger, server, LIGHTPUSH_V3_CODEC, proto_lightpush.LightPushRequestV3.encode({ requestId: String(i), pubsubTopic, message })));
        codes.set(answer.statusCode, (codes.get(answer.statusCode) ?? 0) + 1);
      } catch {
        failed++;
      }
    },
    () => !pushing,
  );
  return {
    async stop() {
      pushing = false;
      await done;
      return { codes, failed, seconds: (performance.now() - started) / 1000 };
    },
  };
}

export async function measureLoad(): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const rows: ServerRow[] = [];
  const notes: string[] = [];
  const clientKey = Wallet.createRandom() as unknown as Wallet;
  const server = await startServer("freemium", clientKey.address, {}, "real", { shipped: true });
  const clients: LightNode[] = [];
  let load: Awaited<ReturnType<typeof freeLoad>> | undefined;
  try {
    const [paid, stranger] = await Promise.all([client(server), client(server)]);
    clients.push(paid, stranger);
    await grant(paid, server, clientKey);
    // Within the push burst a peer is allowed, so the fill is never refused.
    const { pubsubTopic } = await fill(paid, server, 80);
    await queries(paid, server, pubsubTopic, 100, 1);
    const check = (run: Awaited<ReturnType<typeof queries>>, what: string) => {
      if (run.served !== PAID_QUERIES) throw new Error(`subscriber not served ${what} (${run.served} of ${PAID_QUERIES})`);
      return run;
    };
    const alone = check(await queries(paid, server, pubsubTopic, PAID_QUERIES, 1), "alone");

    const flood = pushFlood(stranger, server, pubsubTopic);
    const underPush = check(await queries(paid, server, pubsubTopic, PAID_QUERIES, 1), "under the push flood");
    const pushed = await flood.stop();

    load = await freeLoad(server);
    const { ready } = load;
    const underFree = check(await queries(paid, server, pubsubTopic, PAID_QUERIES, 1), "under the free load");
    const report = await load.stop();
    load = undefined;

    rows.push({ measure: "subscriber p99, a stranger's lightpush flood vs alone", value: underPush.p99, baseline: alone.p99, ratio: underPush.p99 / alone.p99, unit: "ms" });
    rows.push({ measure: "subscriber p50, a stranger's lightpush flood vs alone", value: underPush.p50, baseline: alone.p50, ratio: underPush.p50 / alone.p50, unit: "ms" });
    rows.push({ measure: `subscriber p99, ${FREE_CLIENTS} free @waku/sdk clients vs alone`, value: underFree.p99, baseline: alone.p99, ratio: underFree.p99 / alone.p99, unit: "ms" });
    rows.push({ measure: `subscriber p50, ${FREE_CLIENTS} free @waku/sdk clients vs alone`, value: underFree.p50, baseline: alone.p50, ratio: underFree.p50 / alone.p50, unit: "ms" });
    const accepted = (pushed.codes.get(200) ?? 0) + (pushed.codes.get(505) ?? 0);
    const offered = [...pushed.codes.values()].reduce((a, b) => a + b, 0) + pushed.failed;
    rows.push({ measure: "stranger's pushes accepted during the flood (of offered)", value: accepted, baseline: offered, ratio: accepted / offered, unit: "pushes" });
    rows.push({ measure: `free clients that connected (of ${ready.attempted}, 20 at a time)`, value: ready.connected, baseline: ready.attempted, ratio: ready.connected / ready.attempted, unit: "clients" });
    const { newcomers, counts } = report;
    rows.push({ measure: "new clients connected during the free load (of attempted)", value: newcomers.connected, baseline: newcomers.attempted, ratio: newcomers.connected / newcomers.attempted, unit: "clients" });
    if (newcomers.times.length > 0) {
      const p = (q: number) => newcomers.times[Math.min(newcomers.times.length - 1, Math.floor((q / 100) * newcomers.times.length))]!;
      rows.push({ measure: "new client's time to connect during the free load, p50", value: p(50), unit: "ms" });
      rows.push({ measure: "new client's time to connect during the free load, p99", value: p(99), unit: "ms" });
    }
    const codes = (m: Map<number, number>) => [...m].map(([code, n]) => `${n} × ${code}`).join(", ");
    const errors = (e: Record<string, number>) => Object.entries(e).map(([kind, n]) => `${n} × ${kind}`).join(", ") || "none";
    notes.push(
      `load: freemium, every limit as shipped (push: ${DEFAULT_PUSH_LIMITS.perSecond}/s per peer, burst ${DEFAULT_PUSH_LIMITS.burst}, ${DEFAULT_PUSH_LIMITS.totalPerSecond}/s in total); the subscriber queries one at a time (${PAID_QUERIES} queries of a 20-message page) alone, then under each load; server, free clients and this process share 2 cores`,
      `load, push flood: one stranger (no subscription) keeps 16 lightpush requests in flight for ${pushed.seconds.toFixed(1)} s: ${codes(pushed.codes)}${pushed.failed > 0 ? `, ${pushed.failed} without an answer` : ""} (505: archived, no relay peer to publish to)`,
      `load, free clients: ${ready.connected} of ${ready.attempted} @waku/sdk 0.0.36 light nodes (one process, ${report.rssMb} MB resident) connected in ${ready.setupSeconds.toFixed(0)} s, then each read the history (80 messages, @waku/sdk's queryWithOrderedCallback, pages of 20) back to back: ${counts.reads} reads completed, ${counts.readsFailed} failed (${errors(counts.errors)}; a failed read is retried after 100 ms)`,
      `load, new clients: one new light node every ${CONNECT_EVERY_MS} ms while the free clients read (connect = start, dial, store protocol seen; 20 s deadline): ${newcomers.connected} of ${newcomers.attempted} connected; failures: ${errors(newcomers.errors)}`,
    );
    return { rows, notes };
  } finally {
    load?.kill();
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await server.stop();
  }
}
