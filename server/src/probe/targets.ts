// Which nodes a probe measures: the registry's trusted mail servers (active, kind enabled,
// provider approved), dialled where their registered record says; or a configured list.
import { MAILSERVER_KIND, parseEnr, verifyNodes, type RegistryClient } from "@status/mailserver-sdk";

export interface ProbeTarget {
  /** Registry node id; the dialled peer's key must hash to it. */
  nodeId: string;
  /** Multiaddrs, with `/p2p/<peer id>` when the record gives it. */
  addresses: string[];
}

/** Dialable addresses of a registered record (ENR text or a multiaddr); empty when it gives none. */
export function recordAddresses(record: string): string[] {
  const text = record.trim();
  if (text.startsWith("/")) return [text];
  if (!text.startsWith("enr:")) return [];
  let enr;
  try {
    enr = parseEnr(text);
  } catch {
    return [];
  }
  const suffix = `/p2p/${enr.peerId}`;
  const withPeer = (a: string) => (a.includes("/p2p/") ? a : `${a}${suffix}`);
  const addresses = enr.multiaddrs.map(withPeer);
  if (enr.ip !== undefined && enr.tcp !== undefined) addresses.push(`/ip4/${enr.ip}/tcp/${enr.tcp}${suffix}`);
  if (enr.ip6 !== undefined && enr.tcp6 !== undefined) addresses.push(`/ip6/${enr.ip6}/tcp/${enr.tcp6}${suffix}`);
  // The probe's libp2p dials TCP and WebSockets, not secure WebSockets' certificates on loopback:
  // plain TCP first, as nwaku nodes are usually dialled.
  return [...new Set(addresses)].sort((a, b) => Number(a.includes("/ws")) - Number(b.includes("/ws")));
}

/** The registry's trusted mail servers, with the addresses of their records (nodes without any are skipped). */
export async function registryTargets(registry: RegistryClient): Promise<ProbeTarget[]> {
  const ids = await registry.allNodesByKind(MAILSERVER_KIND);
  if (ids.length === 0) return [];
  const verified = await verifyNodes(registry, ids, { kind: MAILSERVER_KIND });
  return verified.flatMap((v) => {
    if (v.nodeId === undefined || v.trust?.trusted !== true || v.record === undefined) return [];
    const addresses = recordAddresses(v.record);
    return addresses.length === 0 ? [] : [{ nodeId: v.nodeId, addresses }];
  });
}
