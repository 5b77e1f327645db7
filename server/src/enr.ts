// The node's ENR: the record a provider registers and discv5 publishes. Built in one place so that
// `mailserver-node key` prints, before the node ever runs, the very record the node announces.
import { buildNodeEnr } from "@status/mailserver-sdk";
import type { ServerConfig } from "./config.js";

/**
 * The ENR for these dialable addresses (the node's announced multiaddrs; `/p2p/...` is dropped):
 * its WebSocket addresses go into `multiaddrs` (what Waku clients dial), the first plain TCP port
 * into `tcp`, the discovery IP and UDP port into `ip`/`udp`. Undefined without `discovery` in the
 * config, which is where the IP to announce comes from.
 */
export function serverEnr(privateKey: Uint8Array, config: ServerConfig, addresses: readonly string[]): string | undefined {
  const d = config.discovery;
  if (d === undefined) return undefined;
  const plain = addresses.map((a) => a.replace(/\/p2p\/[^/]+$/, ""));
  const websockets = plain.filter((a) => a.includes("/ws"));
  const tcp = plain.map((a) => /^\/ip[46]\/[^/]+\/tcp\/(\d+)$/.exec(a)?.[1]).find((p) => p !== undefined);
  return buildNodeEnr({
    privateKey,
    ip: d.ip,
    udp: d.udpPort,
    ...(tcp !== undefined ? { tcp: Number(tcp) } : {}),
    kind: "mailserver", // waku2: store
    // As nwaku's store nodes: relay with store (0x03); lightpush where relay runs it.
    capabilities: config.relay.enabled ? ["relay", "lightpush"] : [],
    multiaddrs: websockets,
    shards: { cluster: config.clusterId, shards: config.shards },
  }).enr;
}

/**
 * The addresses the node will announce, when they are known before it starts: `announce`, or else
 * the listen addresses if each names an IP (not 0.0.0.0 or ::) and a port (not 0). Otherwise the
 * node announces what it binds, known only once it runs (its `serving` log line).
 */
export function plannedAddresses(config: ServerConfig): string[] | undefined {
  if (config.announce !== undefined) return config.announce;
  const concrete = config.listen.every((a) => !/^\/ip[46]\/(0\.0\.0\.0|::)\//.test(a) && !/\/tcp\/0(\/|$)/.test(a));
  return concrete ? config.listen : undefined;
}
