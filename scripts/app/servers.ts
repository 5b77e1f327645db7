// The reference mail server behind each of the page's registered nodes, so that `npm run app`
// shows real signed offers: one freemium, one paid-only, one free (the free one offers 0, so the
// page shows that the registry's price is the one paid). Each serves its offer over HTTP on
// loopback; the page reads it from `offerUrls` in config.json. The first relays to the other two,
// and a quality probe registered as a node of kind "probe" measures them every minute and serves
// its signed reports over HTTP (`quality.reportUrls`).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import type { NetworkConnection } from "hardhat/types/network";
import { CuratorClient, PROBE_KIND_NAME, ProviderClient } from "@status/mailserver-sdk";
import { parseConfig, parseProbeConfig, pubsubTopicOf, silentLogger, startProbe, startServer, type RunningServer } from "@status/mailserver-node";
import type { AppChain } from "./chain.js";

export interface AppMailServers {
  /** Node id -> offer URL, for config.json. */
  offerUrls: Record<string, string>;
  /** The probe's reports URL, for config.json. */
  reportsUrl: string | undefined;
  stop(): Promise<void>;
}

const MODES = ["freemium", "paid-only", "free"] as const;

export async function startAppMailServers(chain: AppChain, connection: NetworkConnection, rpcUrl: string): Promise<AppMailServers> {
  const dir = await mkdtemp(path.join(tmpdir(), "mailserver-app-servers-"));
  const running: { stop(): Promise<void> }[] = [];
  const offerUrls: Record<string, string> = {};
  const started: RunningServer[] = [];
  const stop = async () => {
    for (const server of running.splice(0)) await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The first one last: it relays to the others, which must be listening.
    for (const i of [...chain.servers.keys()].reverse()) {
      const server = chain.servers[i]!;
      const mode = MODES[i % MODES.length]!;
      const config = parseConfig(
        {
          nodeKeyFile: "unused",
          mode,
          ...(mode === "free" ? {} : { rpcUrl, startBlock: chain.config.addresses.startBlock ?? 0, indexFile: `index-${i}.sqlite` }),
          chainId: chain.config.chainId,
          registry: chain.config.addresses.registry,
          escrow: chain.config.addresses.escrow,
          listen: ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"],
          clusterId: 16,
          shards: [32],
          archive: { backend: "sqlite", path: ":memory:" },
          relay: { enabled: true, peers: i === 0 ? started.map(tcpOf) : [] },
          retention: { maxAgeSeconds: (i + 1) * 15 * 86_400 },
          offer: {
            contact: `ops@${server.name}.example`,
            token: chain.config.addresses.token,
            pricePerMonth: server.pricePerMonth.toString(),
            http: { host: "127.0.0.1", port: 0 },
          },
        },
        dir,
      );
      const one = await startServer(config, silentLogger, { privateKey: Buffer.from(server.nodeKey.slice(2), "hex") });
      running.push(one);
      started.push(one);
      if (one.offerUrl !== undefined) offerUrls[server.nodeId] = one.offerUrl;
    }
    // Markers reach the other two only once the first one's relay mesh has them (a few heartbeats).
    const relaying = started.at(-1)!.node.relay;
    for (let waited = 0; relaying !== undefined && relaying.meshPeers(pubsubTopicOf(16, 32)).length < started.length - 1 && waited < 30_000; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // The probe, registered by the default provider once the curator enabled the kind.
    const status = await connection.ethers.getSigner(chain.providers.status);
    const { addresses } = chain.config;
    await new CuratorClient({ runner: status, addresses }).setKindEnabled(PROBE_KIND_NAME, true);
    const probeKey = Wallet.createRandom().privateKey;
    await new ProviderClient({ runner: status, addresses }).addNode({ nodeKey: probeKey, kind: PROBE_KIND_NAME, record: "/ip4/127.0.0.1/tcp/8090", pricePerMonth: 0 });
    const probeConfig = parseProbeConfig(
      {
        nodeKeyFile: "unused",
        chainId: chain.config.chainId,
        registry: addresses.registry,
        // The registered records name made-up ports: measure the servers where they listen.
        nodes: started.map((one) => ({ nodeId: one.nodeId, addresses: [tcpOf(one)] })),
        clusterId: 16,
        shards: [32],
        publishPeers: [tcpOf(started.at(-1)!)],
        intervalSeconds: 60,
        graceMs: 5_000,
        http: { host: "127.0.0.1", port: 0 },
        logLevel: "error",
      },
      dir,
    );
    const probe = await startProbe(probeConfig, silentLogger, { privateKey: Buffer.from(probeKey.slice(2), "hex") });
    running.push(probe);
    return { offerUrls, reportsUrl: probe.reportsUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

const tcpOf = (server: RunningServer) => server.node.multiaddrs.find((a) => !a.includes("/ws"))!;
