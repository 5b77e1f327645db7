// Public API of mail-server discovery (re-exported from the package root).
export { SERVICE_KIND_ENR_KEY, MAILSERVER_KIND_NAME, encodeKinds, decodeKinds, enrKinds, enrHasKind } from "./kind.js";
export {
  MAX_REGISTRY_RECORD_LENGTH,
  buildNodeEnr,
  recordSync,
  registryRecordFor,
  type BuildNodeEnrOptions,
  type NodeEnr,
  type RecordSyncOptions,
  type RecordSyncReason,
  type RecordSyncResult,
} from "./publish.js";
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
export {
  StaticEnrSource,
  RegistrySource,
  Discv5CrawlerSource,
  combineSources,
  mergeEnrs,
  type CombinedSource,
  type CrawlStats,
  type DiscoverOptions,
  type DiscoveredNode,
  type DiscoveryResult,
  type DiscoverySource,
  type Discv5CrawlerOptions,
  type InvalidEnr,
  type RegisteredRecord,
  type RegistryRecordReader,
  type RegistrySourceOptions,
  type SkippedRecord,
  type SourceFailure,
} from "./sources.js";
export { findFreeUdpPort } from "./util.js";
export { nodeDnsResolver, type NodeDnsResolverOptions } from "./dnsResolver.js";
