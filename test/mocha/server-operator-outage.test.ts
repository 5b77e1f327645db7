// Restarts and shutdowns during a chain RPC outage, through the real `mailserver-node` CLI: with
// the RPC down or hanging, a node whose saved index exists starts and serves from it (warning
// that it does), reports a hanging call while it lasts, and SIGTERM ends it cleanly whatever the
// RPC does; with no saved index it still refuses to start, with one plain sentence.
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Protocols, type LightNode } from "@waku/sdk";
import { startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { startRpcProxy, type RpcProxy } from "../helpers/rpcProxy.js";
import { startServerProcess, writeConfig, type ServerProcess } from "../helpers/serverProcess.js";

describe("mail server operator: restarts and shutdowns during an RPC outage", function () {
  this.timeout(180_000);
  let chain: Chain;
  let proxy: RpcProxy;
  let tmp: string;
  const processes: ServerProcess[] = [];
  const clients: LightNode[] = [];
  let release: (() => void)[] = [];

  const config = (indexFile: string, extra: Record<string, unknown> = {}) => ({
    nodeKeyFile: "node.key",
    listen: ["/ip4/127.0.0.1/tcp/0/ws"],
    rpcUrl: proxy.url,
    chainId: 31337,
    escrow: chain.addresses.escrow,
    startBlock: 0,
    confirmations: 0,
    indexIntervalMs: 200,
    indexFile,
    rpcTimeoutMs: 2000,
    indexStartTimeoutMs: 3000,
    mode: "paid-only",
    relay: { enabled: false },
    archive: { backend: "sqlite", path: "archive.sqlite" },
    logLevel: "debug",
    ...extra,
  });
  const start = async (name: string, indexFile = "index.sqlite", extra: Record<string, unknown> = {}) => {
    const server = startServerProcess(await writeConfig(tmp, name, config(indexFile, extra)));
    processes.push(server);
    return server;
  };
  const servesAStoreClient = async (server: ServerProcess) => {
    const serving = await server.waitFor("serving", 60_000);
    const address = (serving.multiaddrs as string[]).find((a) => a.includes("/ws/"))!;
    const waku = await wakuClient(address, [Protocols.Store]);
    clients.push(waku);
  };

  before(async function () {
    this.timeout(120_000);
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-operator-outage-"));
    chain = await startChain();
    proxy = await startRpcProxy(chain.node.url);
    await writeFile(path.join(tmp, "node.key"), `${chain.nodeKey.privateKey.slice(2)}\n`);
    // A first run with the RPC up: the index is saved.
    const first = await start("first.json");
    await first.waitFor("index-synced");
    await first.waitFor("serving");
    expect(await first.stop()).to.equal(0);
  });

  afterEach(() => {
    proxy.down = false;
    proxy.beforeForward = undefined;
    for (const r of release.splice(0)) r();
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await proxy?.close();
    await chain?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it("RPC down: a restart with a saved index serves from it and warns; SIGTERM exits 0", async () => {
    proxy.down = true;
    const server = await start("down.json", "index.sqlite", { metrics: { host: "127.0.0.1", port: 0 } });
    await servesAStoreClient(server);
    expect(server.events.some((e) => e.event === "rpc-unavailable" && e.level === "warn")).to.equal(true);
    // What the operator's alert reads: the RPC is down, the index is not fresh.
    const { url } = (await server.waitFor("metrics-serving")) as { url: string };
    const text = await (await fetch(url)).text();
    expect(text).to.match(/^mailserver_rpc_up 0$/m).and.match(/^mailserver_rpc_state\{state="down"\} 1$/m);
    expect(text).to.match(/^mailserver_index_fresh 0$/m).and.match(/^mailserver_index_last_block \d+$/m);
    // The gate decides from the last good index (stale mode, within the grace) and says so in
    // the metrics and in the log (at warn).
    expect(text).to.match(/^mailserver_gate_mode\{mode="stale"\} 1$/m).and.match(/^mailserver_gate_mode\{mode="fresh"\} 0$/m);
    expect(text).to.match(/^mailserver_gate_index_stale_seconds \d+$/m).and.match(/^mailserver_gate_unavailable_total 0$/m);
    const mode = await server.waitFor("gate-mode");
    expect(mode).to.include({ level: "warn", mode: "stale", previous: "fresh" });
    expect(await server.stop("SIGTERM")).to.equal(0);
  });

  it("RPC hanging: a restart with a saved index serves, reports the hanging call (warn), and SIGTERM exits 0 at once", async () => {
    proxy.beforeForward = () => new Promise<void>((resolve) => release.push(resolve));
    const server = await start("hang.json");
    await servesAStoreClient(server);
    await server.waitFor("rpc-slow", 30_000);
    expect(server.events.find((e) => e.event === "rpc-slow")?.level).to.equal("warn");
    // The helper's stop SIGKILLs after 10 s: exit code 0 means the node stopped by itself first.
    expect(await server.stop("SIGTERM")).to.equal(0);
    expect(server.events.some((e) => e.event === "shutdown-complete")).to.equal(true);
  });

  it("RPC down and no saved index: exits 1 with one plain sentence", async () => {
    proxy.down = true;
    const server = await start("fresh.json", "fresh-index.sqlite");
    expect(await server.exited).to.equal(1);
    const lines = server.stderr().split("\n").filter((l) => l !== "");
    expect(lines, server.stderr()).to.have.length(1);
    expect(lines[0]).to.match(/^Error: cannot read the chain id from rpcUrl: .+$/);
  });
});
