// Load for bench/load.ts, in its own process so that it does not share the measuring process's
// event loop. Argument: JSON { role, address, contentTopic, pubsubTopic, clients, connectEveryMs }.
// - role "push": one light node (a stranger, no subscription) keeps 16 lightpush v3 requests in
//   flight, as fast as the server answers.
// - role "free": `clients` real @waku/sdk light nodes connect (8 at a time, the server's bound on
//   handshakes pending from one address, which all of them share here), then each reads the
//   content topic's history through @waku/sdk's own store query (it pages until an empty page)
//   again and again.
// - role "flood": `clients` light nodes (no subscription) each keep `lanes` raw store queries (a
//   20-message page of the content topic) in flight, as fast as the server answers.
// - role "newcomers": a new light node tries to connect every `connectEveryMs` (and leaves
//   again), to show whether new clients still get in (a process of its own, so that the free
//   clients' work does not slow its connections down).
// Prints one line `BENCH <json>` once loading (what connected), then on "stop" on stdin one with
// the counts, and exits. (js-waku prints lines of its own on stdout.)
import { performance } from "node:perf_hooks";
import * as lp from "it-length-prefixed";
import { createLightNode, Protocols } from "@waku/sdk";
import { proto_lightpush, proto_store } from "@waku/proto";

const { role, address, contentTopic, pubsubTopic, clients = 1, connectEveryMs = 250, lanes = 16 } = JSON.parse(process.argv[2]);
const CONNECT_DEADLINE_MS = 20_000;
const LIGHTPUSH_V3_CODEC = "/vac/waku/lightpush/3.0.0";
const STORE_CODEC = "/vac/waku/store-query/3.0.0";
const report = (value) => console.log("BENCH " + JSON.stringify(value));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tally = (into, error) => {
  const text = String(error?.message ?? error);
  const kind = /\b(503|SERVICE_UNAVAILABLE)\b/.test(text) ? "503" : /\b(429|TOO_MANY)\b/.test(text) ? "429" : text.slice(0, 60);
  into[kind] = (into[kind] ?? 0) + 1;
};

/** A light node connected to the server (store), or an error within the deadline. */
async function connect() {
  const waku = await createLightNode({ defaultBootstrap: false, libp2p: { filterMultiaddrs: false } });
  try {
    await waku.start();
    await waku.dial(address);
    await waku.waitForPeers([Protocols.Store], CONNECT_DEADLINE_MS);
    return waku;
  } catch (error) {
    await stop(waku);
    throw error;
  }
}

/** js-waku keeps timers per connection after stop(): close the connections first, or the process lingers. */
async function stop(waku) {
  await Promise.all(waku.libp2p.getConnections().map((c) => c.abort(new Error("bench done")))).catch(() => undefined);
  await waku.stop().catch(() => undefined);
}

/** One raw request with a 10 s deadline; resolves to the first answer frame. */
async function request(waku, codec, bytes) {
  const peer = waku.libp2p.getConnections()[0]?.remotePeer;
  if (peer === undefined) throw new Error("not connected");
  const stream = await waku.libp2p.dialProtocol(peer, codec, { signal: AbortSignal.timeout(10_000) });
  const timer = setTimeout(() => stream.abort(new Error("no answer within 10 s")), 10_000);
  try {
    await stream.sink([lp.encode.single(bytes).subarray()]);
    let first;
    for await (const chunk of lp.decode(stream.source)) first ??= chunk.subarray();
    if (first === undefined) throw new Error("no answer");
    return first;
  } finally {
    clearTimeout(timer);
  }
}

let running = true;
const work = [];
let counts;

if (role === "push") {
  const stranger = await connect();
  counts = { codes: {}, failed: {}, started: performance.now() };
  let i = 0;
  for (let lane = 0; lane < 16; lane++) {
    work.push(
      (async () => {
        while (running) {
          const n = i++;
          const message = { payload: new TextEncoder().encode(`stranger ${n} ${"y".repeat(200)}`), contentTopic, timestamp: BigInt(Date.now()) * 1_000_000n };
          try {
            const answer = proto_lightpush.LightPushResponseV3.decode(await request(stranger, LIGHTPUSH_V3_CODEC, proto_lightpush.LightPushRequestV3.encode({ requestId: String(n), pubsubTopic, message })));
            counts.codes[answer.statusCode] = (counts.codes[answer.statusCode] ?? 0) + 1;
          } catch (error) {
            tally(counts.failed, error);
          }
        }
      })(),
    );
  }
  report({ attempted: 1, connected: 1 });
} else if (role === "flood") {
  const nodes = await Promise.all(Array.from({ length: clients }, () => connect()));
  const query = proto_store.StoreQueryRequest.encode({ requestId: "flood", includeData: true, pubsubTopic, contentTopics: [contentTopic], messageHashes: [], paginationForward: true, paginationLimit: 20n });
  counts = { done: 0, served: 0, dropped: 0, codes: {} };
  for (const waku of nodes) {
    for (let lane = 0; lane < lanes; lane++) {
      work.push(
        (async () => {
          while (running) {
            // A free peer's stream beyond the free stream caps is reset unread: counted, asked again.
            const answer = await request(waku, STORE_CODEC, query).then((bytes) => proto_store.StoreQueryResponse.decode(bytes), () => undefined);
            counts.done++;
            if (answer === undefined) counts.dropped++;
            else {
              counts.codes[answer.statusCode] = (counts.codes[answer.statusCode] ?? 0) + 1;
              if (answer.statusCode === 200) counts.served++;
            }
          }
        })(),
      );
    }
  }
  report({ attempted: clients, connected: nodes.length });
} else if (role === "free") {
  const nodes = [];
  const setupErrors = {};
  const setupStarted = performance.now();
  let attempted = 0;
  for (let i = 0; i < clients; i += 8) {
    const group = await Promise.allSettled(Array.from({ length: Math.min(8, clients - i) }, () => (attempted++, connect())));
    for (const r of group) if (r.status === "fulfilled") nodes.push(r.value);
    else tally(setupErrors, r.reason);
  }
  counts = { reads: 0, readsFailed: 0, messages: 0, errors: {} };
  for (const waku of nodes) {
    const decoder = waku.createDecoder({ contentTopic });
    work.push(
      (async () => {
        while (running) {
          try {
            await waku.store.queryWithOrderedCallback([decoder], () => void counts.messages++);
            counts.reads++;
          } catch (error) {
            counts.readsFailed++;
            tally(counts.errors, error);
            // A failed read is retried after a moment, not in a tight loop.
            await sleep(100);
          }
        }
      })(),
    );
  }
  report({ attempted, connected: nodes.length, setupSeconds: (performance.now() - setupStarted) / 1000, setupErrors });
} else {
  const newcomers = { attempted: 0, connected: 0, times: [], errors: {} };
  counts = { newcomers };
  work.push(
    (async () => {
      while (running) {
        newcomers.attempted++;
        const started = performance.now();
        try {
          const waku = await connect();
          newcomers.times.push(performance.now() - started);
          newcomers.connected++;
          void stop(waku);
        } catch (error) {
          tally(newcomers.errors, error);
        }
        await sleep(connectEveryMs);
      }
    })(),
  );
  report({ attempted: 0, connected: 0 });
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", async (text) => {
  if (!text.includes("stop") || !running) return;
  running = false;
  const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
  // What is in flight ends within its deadline; the counts are taken by then at the latest.
  await Promise.race([Promise.all(work), sleep(5_000)]);
  if (counts.started !== undefined) counts.seconds = (performance.now() - counts.started) / 1000;
  counts.newcomers?.times.sort((a, b) => a - b);
  report({ ...counts, rssMb });
  process.exit(0);
});
