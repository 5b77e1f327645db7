// The reference mail server behind each of the page's registered nodes, so that `npm run app`
// shows real signed offers: one freemium, one paid-only, one free (the free one offers 0, so the
// page shows that the registry's price is the one paid). Each serves its offer over HTTP on
// loopback; the page reads it from `offerUrls` in config.json.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfig, silentLogger, startServer } from "@status/mailserver-node";
import type { AppChain } from "./chain.js";

export interface AppMailServers {
  /** Node id -> offer URL, for config.json. */
  offerUrls: Record<string, string>;
  stop(): Promise<void>;
}

const MODES = ["freemium", "paid-only", "free"] as const;

export async function startAppMailServers(chain: AppChain, rpcUrl: string): Promise<AppMailServers> {
  const dir = await mkdtemp(path.join(tmpdir(), "mailserver-app-servers-"));
  const running: { stop(): Promise<void> }[] = [];
  const offerUrls: Record<string, string> = {};
  const stop = async () => {
    for (const server of running.splice(0)) await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, server] of chain.servers.entries()) {
      const mode = MODES[i % MODES.length]!;
      const config = parseConfig(
        {
          nodeKeyFile: "unused",
          mode,
          ...(mode === "free" ? {} : { rpcUrl, startBlock: chain.config.addresses.startBlock ?? 0, indexFile: `index-${i}.sqlite` }),
          chainId: chain.config.chainId,
          registry: chain.config.addresses.registry,
          escrow: chain.config.addresses.escrow,
          listen: ["/ip4/127.0.0.1/tcp/0/ws"],
          clusterId: 16,
          shards: [32],
          archive: { backend: "sqlite", path: ":memory:" },
          relay: { enabled: false },
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
      const started = await startServer(config, silentLogger, { privateKey: Buffer.from(server.nodeKey.slice(2), "hex") });
      running.push(started);
      if (started.offerUrl !== undefined) offerUrls[server.nodeId] = started.offerUrl;
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { offerUrls, stop };
}
