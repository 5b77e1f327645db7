// Metrics an operator scrapes: `metrics: { host, port }` serves the Prometheus text format on
// GET /metrics (off by default). Scraped and parsed as Prometheus would, after a real @waku/sdk
// client's store query.
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import { Protocols, type LightNode } from "@waku/sdk";
import { parseConfig, silentLogger, startServer, type RunningServer } from "@status/mailserver-node";
import { fetchMessages, wakuClient } from "../helpers/mailServer.js";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (0.0.4): every sample line, with its TYPE known. */
export function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\S+) (gauge|counter)$/.exec(line);
    if (type !== null) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? "").match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const at = pair.indexOf("=");
      labels[pair.slice(0, at)] = JSON.parse(pair.slice(at + 1)) as string;
    }
    if (!types.has(m[1]!)) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

describe("mail server operator: Prometheus metrics", function () {
  this.timeout(120_000);
  let tmp: string;
  let running: RunningServer;
  const clients: LightNode[] = [];

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-operator-metrics-"));
    await writeFile(path.join(tmp, "node.key"), Wallet.createRandom().privateKey);
    const config = parseConfig(
      {
        nodeKeyFile: "node.key",
        listen: ["/ip4/127.0.0.1/tcp/0/ws"],
        mode: "free",
        clusterId: 1,
        shards: [0, 1],
        archive: { backend: "sqlite", path: "archive.sqlite" },
        retention: { maxAgeSeconds: 3600, maxBytes: 1_000_000, minAgeSeconds: 600 },
        metrics: { host: "127.0.0.1", port: 0 },
      },
      tmp,
    );
    running = await startServer(config, silentLogger);
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await running?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it("is off unless configured", async () => {
    const config = parseConfig({ nodeKeyFile: "node.key", listen: ["/ip4/127.0.0.1/tcp/0/ws"], mode: "free", archive: { backend: "sqlite", path: ":memory:" } }, tmp);
    expect(config.metrics).to.equal(undefined);
  });

  it("serves connections, archive against retention, relay peers per shard, ingest and store answers by status", async () => {
    const waku = await wakuClient(running.node.multiaddrs.find((a) => a.includes("/ws/"))!, [Protocols.Store]);
    clients.push(waku);
    expect(await fetchMessages(waku, "/mailserver-operator/1/metrics/proto")).to.deep.equal([]);

    const response = await fetch(running.metrics!.url);
    expect(response.status).to.equal(200);
    expect(response.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseExposition(await response.text());
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value("mailserver_connections")).to.be.at.least(1);
    expect(value("mailserver_archive_up")).to.equal(1);
    expect(value("mailserver_archive_messages")).to.equal(0);
    expect(value("mailserver_archive_retention_max_bytes")).to.equal(1_000_000);
    expect(value("mailserver_archive_retention_max_age_seconds")).to.equal(3600);
    expect(value("mailserver_relay_peers", { pubsub_topic: "/waku/2/rs/1/0" })).to.equal(0);
    expect(value("mailserver_relay_peers", { pubsub_topic: "/waku/2/rs/1/1" })).to.equal(0);
    expect(value("mailserver_relay_received_total")).to.equal(0);
    expect(value("mailserver_ingest_archived_total")).to.equal(0);
    expect(value("mailserver_store_answers_total", { status: "200" })).to.be.at.least(1);
    expect(types.get("mailserver_store_answers_total")).to.equal("counter");
    expect(types.get("mailserver_connections")).to.equal("gauge");
    // No chain RPC in free mode: no index or RPC metrics.
    expect(value("mailserver_rpc_up")).to.equal(undefined);

    expect((await fetch(running.metrics!.url.replace("/metrics", "/other"))).status).to.equal(404);
  });
});
