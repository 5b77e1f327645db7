// Entry point `@status/mailserver-sdk/discovery` (Node-only): what needs UDP sockets or Node
// crypto: the discv5 node and crawler, and node selection with discv5 probes.
// The isomorphic discovery pieces (ENR kinds, buildNodeEnr, static/registry sources, merging)
// are exported from the package root.
export {
  startMailserverDiscovery,
  startDiscv5Node,
  type Discv5ConfigOverrides,
  type Discv5Events,
  type Discv5Handle,
  type MailserverDiscoveryHandle,
  type StartDiscv5NodeOptions,
  type StartMailserverDiscoveryOptions,
} from "./node.js";
export { Discv5CrawlerSource, type CrawlStats, type Discv5CrawlerOptions } from "./crawler.js";
export { findFreeUdpPort } from "./udp.js";

export * from "../selection/index.js";
// The Node TXT lookup for EIP-1459 DNS trees (the tree client itself is in the root).
export { nodeDnsResolver, type NodeDnsResolverOptions } from "./dnsResolver.js";
