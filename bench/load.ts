/**
 * A subscriber under load (issue #20): the store p50/p99 of a paying subscriber alone, while a
 * stranger pushes by lightpush as fast as it can (the per-peer and total push limits answer 429
 * beyond what they allow), and while 200 free @waku/sdk light nodes read history through
 * @waku/sdk's own store query, in `freemium`, with every limit as shipped (target: within 2x of
 * alone; measured with the free clients' process at equal CPU priority, then niced, since on
 * these 2 cores it otherwise takes CPU from the server). Then, the free load still niced, a new
 * light node tries to connect every 250 ms (target: new connections keep succeeding), from a
 * process of its own at normal priority, in a phase of its own: that process takes CPU from the
 * server too, so the subscriber's latency meanwhile is reported apart. The server runs in its own process (bench/serverChild.mjs), each
 * load in another (bench/loadChild.mjs); the subscriber uses bench/server.ts's raw store requests
 * over a @waku/sdk connection, one at a time. All share the machine's cores. Nothing fails on speed.
 */
import { performance } from "node:perf_hooks";
import { Wallet } from "ethers";
import type { LightNode } from "@waku/sdk";
import { DEFAULT_ADMISSION_LIMITS, DEFAULT_NODE_LIMITS, DEFAULT_PUSH_LIMITS } from "@status/mailserver-node";
import { client, fill, grant, queries, startLoadChild, startServer, type Server, type ServerRow } from "./server.js";

const FREE_CLIENTS = Number(process.env.BENCH_FREE_CLIENTS ?? 200);
/** Each phase: at least this many subscriber queries, for at least this long (so that new connections are tried often enough). */
const PAID_QUERIES = 500;
const PHASE_MS = 15_000;
const CONNECT_EVERY_MS = 250;
const IDLE_ARRIVALS_MS = 5_000;
/** The free load generator's niceness in the main free phase (the measured clients keep 0). */
const LOAD_NICENESS = 19;

interface Counts {
  rssMb: number;
}
interface PushCounts extends Counts {
  codes: Record<string, number>;
  failed: Record<string, number>;
  seconds: number;
}
interface FreeCounts extends Counts {
  reads: number;
  readsFailed: number;
  /** Messages received, in pages of 20, whether or not their read completed. */
  messages: number;
  errors: Record<string, number>;
}
interface NewcomerCounts extends Counts {
  newcomers: { attempted: number; connected: number; times: number[]; errors: Record<string, number> };
}
interface Ready {
  attempted: number;
  connected: number;
  setupSeconds?: number;
  setupErrors?: Record<string, number>;
}

const loadChild = <T>(server: Server, role: "push" | "free" | "newcomers", pubsubTopic: string) =>
  startLoadChild<T, Ready>(server, role, pubsubTopic, { clients: FREE_CLIENTS, connectEveryMs: CONNECT_EVERY_MS });

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const list = (r: Record<string, number>) => Object.entries(r).map(([kind, n]) => `${n} × ${kind}`).join(", ") || "none";

export async function measureLoad(): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const rows: ServerRow[] = [];
  const notes: string[] = [];
  const clientKey = Wallet.createRandom() as unknown as Wallet;
  const server = await startServer("freemium", clientKey.address, {}, "real", { shipped: true });
  let paid: LightNode | undefined;
  const children: { kill(): void }[] = [];
  try {
    paid = await client(server);
    await grant(paid, server, clientKey);
    // Within the push burst a peer is allowed, so the fill is never refused.
    const { pubsubTopic } = await fill(paid, server, 80);
    await queries(paid, server, pubsubTopic, 100, 1);
    /** The subscriber's queries, one at a time, for PAID_QUERIES queries and PHASE_MS at least. */
    const phase = async (what: string) => {
      const started = performance.now();
      let done = 0;
      const run = await queries(paid!, server, pubsubTopic, 1e9, 1, () => done++ >= PAID_QUERIES && performance.now() - started >= PHASE_MS);
      if (run.served !== run.done) throw new Error(`subscriber not served ${what} (${run.served} of ${run.done})`);
      return run;
    };
    // New clients' time to connect with no load, the baseline of the same during the free load.
    const idleArrivals = await loadChild<NewcomerCounts>(server, "newcomers", pubsubTopic);
    children.push(idleArrivals);
    await new Promise((resolve) => setTimeout(resolve, IDLE_ARRIVALS_MS));
    const { newcomers: idle } = await idleArrivals.stop();
    // Every phase runs as long as the free ones: a p99 of a second and a half of queries moved
    // by half from run to run, and the ratios with it.
    const alone = await phase("alone");

    const push = await loadChild<PushCounts>(server, "push", pubsubTopic);
    children.push(push);
    const underPush = await phase("under the push flood");
    const pushed = await push.stop();

    const free = await loadChild<FreeCounts>(server, "free", pubsubTopic);
    children.push(free);
    const freeStarted = performance.now();
    // First with the load generator competing with the server for this machine's cores, then with
    // the generator niced, as when the load comes from other machines (it then gets what the
    // server and the measured clients leave: the same load on the server, less CPU taken from it).
    const underFreeShared = await phase("under the free load, sharing the cores");
    free.nice(LOAD_NICENESS);
    const underFree = await phase("under the free load");
    const arrivals = await loadChild<NewcomerCounts>(server, "newcomers", pubsubTopic);
    children.push(arrivals);
    const underArrivals = await phase("under the free load, new clients arriving");
    const { newcomers } = await arrivals.stop();
    const report = await free.stop();
    const freeSeconds = (performance.now() - freeStarted) / 1000;
    const { ready } = free;

    rows.push({ measure: "subscriber p99, a stranger's lightpush flood vs alone", value: underPush.p99, baseline: alone.p99, ratio: underPush.p99 / alone.p99, unit: "ms" });
    rows.push({ measure: "subscriber p50, a stranger's lightpush flood vs alone", value: underPush.p50, baseline: alone.p50, ratio: underPush.p50 / alone.p50, unit: "ms" });
    rows.push({ measure: `subscriber p99, ${FREE_CLIENTS} free @waku/sdk clients (their process niced) vs alone`, value: underFree.p99, baseline: alone.p99, ratio: underFree.p99 / alone.p99, unit: "ms" });
    rows.push({ measure: `subscriber p50, ${FREE_CLIENTS} free @waku/sdk clients (their process niced) vs alone`, value: underFree.p50, baseline: alone.p50, ratio: underFree.p50 / alone.p50, unit: "ms" });
    rows.push({ measure: `subscriber p99, the same and a new client every ${CONNECT_EVERY_MS} ms vs alone`, value: underArrivals.p99, baseline: alone.p99, ratio: underArrivals.p99 / alone.p99, unit: "ms" });
    rows.push({ measure: `subscriber p99, ${FREE_CLIENTS} free clients whose process shares the cores at equal priority vs alone`, value: underFreeShared.p99, baseline: alone.p99, ratio: underFreeShared.p99 / alone.p99, unit: "ms" });
    rows.push({ measure: `subscriber p50, ${FREE_CLIENTS} free clients whose process shares the cores at equal priority vs alone`, value: underFreeShared.p50, baseline: alone.p50, ratio: underFreeShared.p50 / alone.p50, unit: "ms" });
    const accepted = (pushed.codes["200"] ?? 0) + (pushed.codes["505"] ?? 0);
    const offered = sum(pushed.codes) + sum(pushed.failed);
    rows.push({ measure: "stranger's pushes accepted/s during the flood (allowed: 20/s)", value: accepted / pushed.seconds, unit: "pushes/s" });
    rows.push({ measure: "stranger's pushes offered/s during the flood", value: offered / pushed.seconds, unit: "pushes/s" });
    rows.push({ measure: `free clients that connected (of ${ready.attempted})`, value: ready.connected, baseline: ready.attempted, ratio: ready.connected / ready.attempted, unit: "clients" });
    rows.push({ measure: `free pages served per second during the load (of the ${DEFAULT_ADMISSION_LIMITS.freeQueriesPerSecond}/s free budget)`, value: report.messages / 20 / freeSeconds, baseline: DEFAULT_ADMISSION_LIMITS.freeQueriesPerSecond, ratio: report.messages / 20 / freeSeconds / DEFAULT_ADMISSION_LIMITS.freeQueriesPerSecond, unit: "pages/s" });
    rows.push({ measure: "free clients' history reads completed during the load (of tried)", value: report.reads, baseline: report.reads + report.readsFailed, ratio: report.reads / (report.reads + report.readsFailed), unit: "reads" });
    rows.push({ measure: "new clients connected during the free load (of attempted)", value: newcomers.connected, baseline: newcomers.attempted, ratio: newcomers.connected / newcomers.attempted, unit: "clients" });
    const p = (times: number[], q: number) => times[Math.min(times.length - 1, Math.floor((q / 100) * times.length))] ?? Number.NaN;
    for (const q of [50, 99]) {
      const [loaded, base] = [p(newcomers.times, q), p(idle.times, q)];
      rows.push({ measure: `new client's time to connect, p${q}, free load vs none`, value: loaded, baseline: base, ratio: loaded / base, unit: "ms" });
    }
    notes.push(
      `load: freemium, every limit as shipped (push: ${DEFAULT_PUSH_LIMITS.perSecond}/s per peer, burst ${DEFAULT_PUSH_LIMITS.burst}, ${DEFAULT_PUSH_LIMITS.totalPerSecond}/s in total); the subscriber queries one at a time (a 20-message page of 80), ${alone.done} queries alone, ${underPush.done} under the push flood, ${underFreeShared.done} under the free load with its process at equal CPU priority, then ${underFree.done} with it niced to ${LOAD_NICENESS}, then ${underArrivals.done} with it niced while new clients arrive (${PHASE_MS / 1000} s and ${PAID_QUERIES} queries at least each); server, load and this process share 2 cores: at equal priority the generator (200 light nodes, most of a core) takes CPU the server would have, so the subscriber's latency there is partly the machine's scheduler, not the server; niced, it still offers the server the same load (see the reads tried) but gets only the CPU left over, as when the load comes from other machines`,
      `load, push flood: one stranger (no subscription, its own process) keeps 16 lightpush requests in flight for ${pushed.seconds.toFixed(1)} s: ${list(pushed.codes)}${sum(pushed.failed) > 0 ? `; without an answer: ${list(pushed.failed)}` : ""} (505: archived, no relay peer to publish to)`,
      `load, free clients: ${ready.connected} of ${ready.attempted} @waku/sdk 0.0.36 light nodes (one process, ${report.rssMb} MB resident, so real light nodes and not raw store clients) connected in ${(ready.setupSeconds ?? 0).toFixed(0)} s, ${DEFAULT_NODE_LIMITS.maxPendingPerAddress} at a time (all from 127.0.0.1, and the server holds at most ${DEFAULT_NODE_LIMITS.maxPendingPerAddress} handshakes pending per address)${sum(ready.setupErrors ?? {}) > 0 ? `; failures: ${list(ready.setupErrors ?? {})}` : ""}; then each read the history (@waku/sdk's queryWithOrderedCallback, pages of 20: the 80 messages and the ${pushed.codes["505"] ?? 0} the push flood archived, about ${Math.ceil((80 + (pushed.codes["505"] ?? 0)) / 20) + 1} pages a read) again and again, through both free phases: ${Math.round(report.messages / 20)} pages received, ${report.reads} reads completed, ${report.readsFailed} failed (${list(report.errors)}; a failed read is retried after 100 ms). With the free budget (${DEFAULT_ADMISSION_LIMITS.freeQueriesPerSecond} queries/s for all free peers) short of what 200 readers ask, later pages of reads under way go first and a new read waits, ${DEFAULT_ADMISSION_LIMITS.freeQueueTimeoutMs / 1000} s at most (then 503)`,
      `load, new clients: a new light node every ${CONNECT_EVERY_MS} ms (after the previous one connected or failed) while the free clients read, in a process of its own (connect = start, dial, store protocol seen; 20 s deadline), from the same address as the free clients: ${newcomers.connected} of ${newcomers.attempted} connected; failures: ${list(newcomers.errors)}; baseline: the same for ${IDLE_ARRIVALS_MS / 1000} s with no load (${idle.connected} of ${idle.attempted} connected)`,
    );
    return { rows, notes };
  } finally {
    for (const c of children) c.kill();
    await paid?.stop().catch(() => undefined);
    await server.stop();
  }
}
