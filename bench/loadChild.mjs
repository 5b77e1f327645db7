// Free load for bench/load.ts, in its own process so that it does not share the measuring
// process's event loop: `clients` real @waku/sdk light nodes connect to the server, then each
// reads the content topic's history through @waku/sdk's own store query (which pages until an
// empty page) again and again, back to back, until told to stop; meanwhile a new light node tries
// to connect every `connectEveryMs` (and leaves again), to show whether new clients still get in.
// Argument: JSON { address, contentTopic, clients, connectEveryMs }. Prints one JSON line when the
// clients are connected ({ attempted, connected, setupSeconds }), then on "stop" on stdin one with
// the counts, and exits.
import { performance } from "node:perf_hooks";
import { createLightNode, Protocols } from "@waku/sdk";

const { address, contentTopic, clients, connectEveryMs } = JSON.parse(process.argv[2]);
const CONNECT_DEADLINE_MS = 20_000;

/** A light node connected to the server (store), or an error within the deadline. */
async function connect(deadlineMs) {
  const waku = await createLightNode({ defaultBootstrap: false, libp2p: { filterMultiaddrs: false } });
  try {
    await waku.start();
    await waku.dial(address);
    await waku.waitForPeers([Protocols.Store], deadlineMs);
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

const nodes = [];
const setupStarted = performance.now();
let attempted = 0;
// 20 at a time, as a crowd arriving, not as one burst of 200 handshakes.
for (let i = 0; i < clients; i += 20) {
  const group = await Promise.allSettled(Array.from({ length: Math.min(20, clients - i) }, () => (attempted++, connect(CONNECT_DEADLINE_MS))));
  for (const r of group) if (r.status === "fulfilled") nodes.push(r.value);
}
console.log(JSON.stringify({ attempted, connected: nodes.length, setupSeconds: (performance.now() - setupStarted) / 1000 }));

let running = true;
const counts = { reads: 0, readsFailed: 0, pages: 0, errors: {} };
const readers = nodes.map(async (waku) => {
  const decoder = waku.createDecoder({ contentTopic });
  while (running) {
    try {
      await waku.store.queryWithOrderedCallback([decoder], () => undefined, {});
      counts.reads++;
    } catch (error) {
      counts.readsFailed++;
      const text = String(error?.message ?? error);
      const kind = /\b(503|SERVICE_UNAVAILABLE)\b/.test(text) ? "503" : /\b(429|TOO_MANY)\b/.test(text) ? "429" : text.slice(0, 60);
      counts.errors[kind] = (counts.errors[kind] ?? 0) + 1;
      // A failed read is retried after a moment, not in a tight loop (js-waku's callers do the same).
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
});

const newcomers = { attempted: 0, connected: 0, times: [], errors: {} };
const arrivals = (async () => {
  while (running) {
    newcomers.attempted++;
    const started = performance.now();
    try {
      const waku = await connect(CONNECT_DEADLINE_MS);
      newcomers.times.push(performance.now() - started);
      newcomers.connected++;
      void stop(waku);
    } catch (error) {
      const text = String(error?.message ?? error).slice(0, 60);
      newcomers.errors[text] = (newcomers.errors[text] ?? 0) + 1;
    }
    await new Promise((resolve) => setTimeout(resolve, connectEveryMs));
  }
})();

process.stdin.setEncoding("utf8");
process.stdin.on("data", async (text) => {
  if (!text.includes("stop") || !running) return;
  running = false;
  // The reads in flight end within the store deadline; the counts are taken now.
  const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
  await Promise.race([Promise.all([...readers, arrivals]), new Promise((resolve) => setTimeout(resolve, 5_000))]);
  newcomers.times.sort((a, b) => a - b);
  console.log(JSON.stringify({ counts, newcomers, rssMb }));
  process.exit(0);
});
