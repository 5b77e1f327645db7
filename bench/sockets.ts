/**
 * Idle sockets (issue #24): new clients' connection success and time to connect while N silent TCP
 * sockets are held open against the mail server, against the same with none. A silent socket
 * connects and never starts its handshake; the server drops it at its handshake deadline, and the
 * attacker here opens it again at once (after 200 ms when it was refused outright), so N stay
 * pending for the whole measure. New clients are libp2p nodes (TCP + noise + yamux, the server's
 * own stack) dialling from 127.0.0.1 one after the other, one connection each, 10 s deadline.
 * Silent sockets come from one other address, from several (at most `maxPendingPerAddress` each),
 * or from the clients' own address (last, as its slots stay taken until their deadline). The
 * server runs in its own process with its limits as shipped. Nothing fails on speed.
 */
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { DEFAULT_NODE_LIMITS } from "@status/mailserver-node";
import { startServer } from "./server.js";

/** Dials per case, and the time between two (the cases span more than one handshake deadline). */
const DIALS = 30;
const DIAL_EVERY_MS = 200;
const DIAL_DEADLINE_MS = 10_000;

export interface SocketsRow {
  case: string;
  /** Silent sockets the attacker keeps open (or re-opening). */
  silent: number;
  /** How many of them were open (connected, not yet closed by the server) when new clients started dialling. */
  heldAtStart: number;
  attempted: number;
  connected: number;
  /** Time to connect (TCP + noise + muxer), ms, of the clients that connected. */
  p50?: number;
  p99?: number;
  /** p50 / the p50 with no silent socket. */
  ratio?: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps `sources.length` silent sockets open to `port`, one from each source address, re-opening each when the server drops it. */
function holdSilent(port: number, sources: string[]) {
  let running = true;
  const open = new Set<net.Socket>();
  let refused = 0;
  let dropped = 0;
  const connectFrom = (from: string) => {
    if (!running) return;
    const opened = performance.now();
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
    socket.on("error", () => undefined);
    socket.once("connect", () => open.add(socket));
    socket.once("close", () => {
      open.delete(socket);
      const heldMs = performance.now() - opened;
      // Dropped at the handshake deadline: back at once. Refused at once (a bound reached): retry soon.
      if (heldMs < 1_000) refused++;
      else dropped++;
      if (running) setTimeout(() => connectFrom(from), heldMs < 1_000 ? 200 : 0);
    });
  };
  for (const from of sources) connectFrom(from);
  return {
    held: () => open.size,
    stats: () => ({ refused, dropped }),
    stop() {
      running = false;
      for (const socket of open) socket.destroy();
    },
  };
}

/**
 * `count` sources: the clients' own address, one other address, or several with at most
 * `perAddress` each. Each case has addresses of its own (127.<case>.0.x): the server counts an
 * address's pending handshakes until their deadline even when the socket has closed, so a case
 * reusing the previous one's addresses would start with their slots still taken.
 */
function sources(count: number, from: "one" | "several" | "own", perAddress: number, caseIndex: number): string[] {
  if (from === "own") return Array.from({ length: count }, () => "127.0.0.1");
  if (from === "one") return Array.from({ length: count }, () => `127.${caseIndex + 1}.0.1`);
  return Array.from({ length: count }, (_, i) => `127.${caseIndex + 1}.0.${1 + Math.floor(i / perAddress)}`);
}

export async function measureSockets(): Promise<{ rows: SocketsRow[]; notes: string[] }> {
  const limits = DEFAULT_NODE_LIMITS;
  const server = await startServer("free", undefined, {}, "real", { listen: ["/ip4/127.0.0.1/tcp/0"], shipped: true });
  const address = server.node.multiaddrs.find((a) => a.startsWith("/ip4/127.0.0.1/tcp/") && !a.includes("/ws"))!;
  const port = Number(address.split("/")[4]);
  const dialer = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionManager: { dialTimeout: DIAL_DEADLINE_MS } });
  await dialer.start();
  const rows: SocketsRow[] = [];
  const total = limits.maxPendingConnections;
  const cases: [string, number, "one" | "several" | "own"][] = [
    ["none", 0, "one"],
    ["one other address", 5, "one"],
    ["one other address", 10, "one"],
    ["one other address", 40, "one"],
    ["several addresses", 40, "several"],
    ["several addresses", total - 16, "several"],
    ["several addresses", total + 44, "several"],
    ["the clients' own address", 10, "own"],
  ];
  const notes: string[] = [];
  try {
    for (const [caseIndex, [name, n, from]] of cases.entries()) {
      const attacker = holdSilent(port, sources(n, from, limits.maxPendingPerAddress, caseIndex));
      // Let every first attempt land (or be refused) before the clients come.
      await sleep(n === 0 ? 0 : 500);
      const heldAtStart = attacker.held();
      const times: number[] = [];
      let attempted = 0;
      for (let i = 0; i < DIALS; i++) {
        attempted++;
        const started = performance.now();
        try {
          const connection = await dialer.dial(multiaddr(address), { signal: AbortSignal.timeout(DIAL_DEADLINE_MS) });
          times.push(performance.now() - started);
          await connection.close().catch(() => undefined);
        } catch {
          // Counted as a failure below.
        }
        await sleep(DIAL_EVERY_MS);
      }
      const { refused, dropped } = attacker.stats();
      attacker.stop();
      times.sort((a, b) => a - b);
      const row: SocketsRow = { case: name, silent: n, heldAtStart, attempted, connected: times.length };
      if (times.length > 0) {
        row.p50 = percentile(times, 50);
        row.p99 = percentile(times, 99);
        if (rows[0]?.p50 !== undefined) row.ratio = row.p50 / rows[0].p50;
      }
      rows.push(row);
      if (n > 0) notes.push(`idle sockets, ${n} from ${name}: ${heldAtStart} open when the clients came, refused ${refused} attempts at once and dropped ${dropped} at its handshake deadline during the ${((DIALS * DIAL_EVERY_MS) / 1000).toFixed(0)} s of dials`);
      // Let the server forget this case's sockets before the next.
      await sleep(300);
    }
  } finally {
    await dialer.stop();
    await server.stop();
  }
  notes.unshift(
    `idle sockets: server limits as shipped (maxPendingConnections ${limits.maxPendingConnections}, maxPendingPerAddress ${limits.maxPendingPerAddress}, handshakeTimeoutMs ${limits.handshakeTimeoutMs}); ${DIALS} new clients per case from 127.0.0.1, one every ${DIAL_EVERY_MS} ms, each a new TCP + noise + yamux connection with a ${DIAL_DEADLINE_MS / 1000} s deadline; silent sockets are plain TCP to the server's TCP port (the WebSocket port's upgrade-then-silence case is covered by test/mocha/server-operator-sockets.test.ts)`,
  );
  return { rows, notes };
}

export function socketsTable(rows: SocketsRow[]): string {
  const header = ["silent sockets from", "N", "open", "connected", "p50 ms", "p99 ms", "p50 vs N=0"];
  const body = rows.map((r) => [
    r.case,
    String(r.silent),
    String(r.heldAtStart),
    `${r.connected}/${r.attempted}`,
    r.p50 === undefined ? "-" : r.p50.toFixed(1),
    r.p99 === undefined ? "-" : r.p99.toFixed(1),
    r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
