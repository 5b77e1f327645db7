// Metrics an operator scrapes: the Prometheus text format (as nwaku serves it) on a plain HTTP
// endpoint, off unless the config names one. What an operator alerts on: index lag and RPC state,
// archive size against retention, connections, relay and ingest counts, answers by status.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Archive, ArchiveStats, RetentionPolicy } from "./archive/archive.js";
import type { Logger } from "./log.js";
import type { MailServerNode } from "./node.js";
import type { RpcMonitor } from "./rpc.js";

/** Answers by protocol and status, counted from the services' own log events (whatever the log level). */
export class AnswerCounters {
  readonly store = new Map<string, number>();
  readonly lightpush = new Map<string, number>();
  /** Free connections closed by the free connection bound, by why ("idle", "over-cap"). */
  readonly freeConnectionsClosed = new Map<string, number>();

  /** A logger that counts answers, then passes every line on. */
  wrap(inner: Logger): Logger {
    return {
      log: (level, event, fields) => {
        if (event === "free-connection-closed") bump(this.freeConnectionsClosed, String(fields?.why));
        const status = fields?.status;
        if (status !== undefined) {
          if (event === "store-query" || event === "store-refused" || event === "store-shed") bump(this.store, String(status));
          else if (event === "pushed" || event === "push-refused") bump(this.lightpush, String(status));
        }
        inner.log(level, event, fields);
      },
    };
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** The part of the access gate the metrics read (`AccessGate.health()`). */
export interface GateView {
  health(): { mode: "fresh" | "stale" | "degraded"; staleForSeconds: number | undefined; graceAdmissions: number; unavailable: number; contractReadFailures: number };
}

/** The part of the subscription index the metrics read. */
export interface IndexView {
  freshness(): { fresh: boolean; syncedAt?: Date; head?: number; lastBlock?: number };
}

export interface MetricsSources {
  node: MailServerNode;
  archive: Archive;
  retention: RetentionPolicy;
  answers: AnswerCounters;
  index?: IndexView;
  gate?: GateView;
  rpc?: RpcMonitor;
  /** Deadline of the archive's size query, ms. */
  archiveStatsTimeoutMs?: number;
}

type Labels = Record<string, string>;

class Exposition {
  readonly #lines: string[] = [];

  metric(name: string, type: "gauge" | "counter", help: string, samples: [Labels, number][]): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const text = Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
        .join(",");
      this.#lines.push(`${name}${text === "" ? "" : `{${text}}`} ${Number.isFinite(value) ? value : "NaN"}`);
    }
  }

  gauge(name: string, help: string, value: number | undefined): void {
    if (value !== undefined) this.metric(name, "gauge", help, [[{}, value]]);
  }

  toString(): string {
    return `${this.#lines.join("\n")}\n`;
  }
}

async function archiveStats(archive: Archive, timeoutMs: number): Promise<ArchiveStats | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([archive.stats(), deadline]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The Prometheus text exposition of the node's state now. */
export async function renderMetrics(sources: MetricsSources): Promise<string> {
  const out = new Exposition();
  const { node, index, rpc } = sources;
  if (index !== undefined) {
    const f = index.freshness();
    const head = Math.max(f.head ?? 0, rpc?.head ?? 0) || undefined;
    out.gauge("mailserver_index_last_block", "Last block the subscription index has applied.", f.lastBlock);
    out.gauge("mailserver_index_head_block", "Latest chain head seen.", head);
    out.gauge("mailserver_index_lag_blocks", "Blocks between the chain head seen and the index.", head !== undefined && f.lastBlock !== undefined ? Math.max(0, head - f.lastBlock) : undefined);
    out.gauge("mailserver_index_last_sync_timestamp_seconds", "When the last successful index sync ended (Unix time).", f.syncedAt !== undefined ? f.syncedAt.getTime() / 1000 : 0);
    out.gauge("mailserver_index_fresh", "1 while the index is caught up with the chain.", f.fresh ? 1 : 0);
  }
  if (sources.gate !== undefined) {
    const h = sources.gate.health();
    out.metric(
      "mailserver_gate_mode",
      "gauge",
      "How the access gate decides (1 for the current mode): fresh (current index), stale (contract reads, else the last good index within the grace), degraded (contract reads only).",
      (["fresh", "stale", "degraded"] as const).map((mode) => [{ mode }, h.mode === mode ? 1 : 0]),
    );
    out.gauge("mailserver_gate_index_stale_seconds", "Seconds since the index's last successful sync (absent: never synced).", h.staleForSeconds);
    out.metric("mailserver_gate_grace_admissions_total", "counter", "Decisions admitted from the last good index because the contract could not be asked.", [[{}, h.graceAdmissions]]);
    out.metric("mailserver_gate_unavailable_total", "counter", "Decisions answered unavailable (the gate could not tell).", [[{}, h.unavailable]]);
    out.metric("mailserver_gate_contract_read_failures_total", "counter", "Contract reads of the gate that failed (RPC down, timeout).", [[{}, h.contractReadFailures]]);
  }
  if (rpc !== undefined) {
    const s = rpc.state;
    out.gauge("mailserver_rpc_up", "1 when the last chain RPC call was answered and none is hanging.", s.state === "up" ? 1 : 0);
    out.metric(
      "mailserver_rpc_state",
      "gauge",
      "The chain RPC's state (1 for the current one).",
      (["unknown", "up", "slow", "down"] as const).map((state) => [{ state }, s.state === state ? 1 : 0]),
    );
    out.gauge("mailserver_rpc_in_flight", "Chain RPC calls waiting for an answer.", s.inFlight);
    out.gauge("mailserver_rpc_failures_in_a_row", "Chain RPC calls failed since the last answered one.", s.failuresInARow);
    out.gauge("mailserver_rpc_last_ok_timestamp_seconds", "When a chain RPC call was last answered (Unix time).", s.lastOkMs !== undefined ? s.lastOkMs / 1000 : 0);
  }
  const stats = await archiveStats(sources.archive, sources.archiveStatsTimeoutMs ?? 5000);
  out.gauge("mailserver_archive_up", "1 when the archive answered its size query in time.", stats !== undefined ? 1 : 0);
  if (stats !== undefined) {
    out.gauge("mailserver_archive_messages", "Messages in the archive.", stats.messages);
    out.gauge("mailserver_archive_bytes", "Bytes of messages in the archive.", stats.bytes);
  }
  out.gauge("mailserver_archive_retention_max_bytes", "Retention bound on the archive's bytes (0: none).", sources.retention.maxBytes);
  out.gauge("mailserver_archive_retention_max_age_seconds", "Retention bound on a message's age (0: none).", sources.retention.maxAgeSeconds);
  out.gauge("mailserver_connections", "Open libp2p connections.", node.libp2p.getConnections().length);
  out.metric(
    "mailserver_free_connections_closed_total",
    "counter",
    "Connections of peers not known to pay closed by limits.maxFreeConnections, by why (idle, over-cap).",
    (["idle", "over-cap"] as const).map((why) => [{ why }, sources.answers.freeConnectionsClosed.get(why) ?? 0]),
  );
  const priority = node.priorityStats;
  if (priority !== undefined) {
    out.gauge("mailserver_free_chunks_waiting", "Chunks of free peers' bytes held back now while paying peers are served.", priority.waiting);
    out.metric("mailserver_free_chunks_delayed_total", "counter", "Chunks of free peers' bytes that waited for paying peers' work or for the next turn of the event loop.", [[{}, priority.waited]]);
    out.gauge("mailserver_free_chunk_longest_wait_seconds", "The longest a chunk of a free peer's bytes waited (bounded by limits.maxFreeWaitMs).", priority.longestWaitMs / 1000);
  }
  const relay = node.relay;
  if (relay !== undefined) {
    out.metric("mailserver_relay_peers", "gauge", "Relay peers subscribed to each shard.", node.pubsubTopics.map((t) => [{ pubsub_topic: t }, relay.peerCount(t)]));
    out.metric("mailserver_relay_mesh_peers", "gauge", "Relay peers in each shard's mesh.", node.pubsubTopics.map((t) => [{ pubsub_topic: t }, relay.meshPeers(t).length]));
    const rs = relay.stats;
    out.metric("mailserver_relay_received_total", "counter", "Valid messages received from the relay mesh.", [[{}, rs.received]]);
    out.metric("mailserver_relay_refused_total", "counter", "Relay messages refused by validation, by reason.", Object.entries(rs.refused).map(([reason, n]) => [{ reason }, n]));
  }
  const ingest = node.ingestStats;
  out.metric("mailserver_ingest_archived_total", "counter", "Messages new to the archive.", [[{}, ingest.archived]]);
  out.metric("mailserver_ingest_duplicates_total", "counter", "Messages the archive already held.", [[{}, ingest.duplicates]]);
  out.metric("mailserver_ingest_dropped_total", "counter", "Messages dropped (queue full or archive failed).", [[{}, ingest.dropped]]);
  out.gauge("mailserver_ingest_queued", "Messages waiting to be written.", ingest.queued);
  out.metric("mailserver_store_answers_total", "counter", "Store answers, by status code.", [...sources.answers.store].map(([status, n]) => [{ status }, n]));
  out.metric("mailserver_lightpush_answers_total", "counter", "Lightpush answers, by status code.", [...sources.answers.lightpush].map(([status, n]) => [{ status }, n]));
  return out.toString();
}

export interface MetricsServer {
  /** `http://host:port/metrics` */
  url: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics`; anything else is 404. */
export async function startMetricsServer(host: string, port: number, sources: MetricsSources, logger: Logger): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      return;
    }
    renderMetrics(sources).then(
      (text) => response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(text),
      (error: unknown) => {
        logger.log("warn", "metrics-failed", { error: String(error) });
        response.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n");
      },
    );
  });
  // A scraper that stops reading must not hold the endpoint.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
