// EIP-1459 DNS discovery (isomorphic): tree format, publishing, the client with an injected TXT
// lookup, and a DNS-over-HTTPS lookup. The Node resolver is on the `/discovery` entry.
export {
  base32Encode,
  base32Decode,
  entryHash,
  parseEnrTreeUrl,
  formatEnrTreeUrl,
  verifyRoot,
  parseEntry,
  buildEnrTree,
  signEnrTreeRoot,
  toZoneFile,
  txtStrings,
  MAX_BRANCH_CHILDREN,
  type EnrTreeUrl,
  type EnrTreeRoot,
  type TreeEntry,
  type BuildEnrTreeOptions,
  type EnrTree,
} from "./tree.js";
export {
  DnsEnrTreeSource,
  type TxtResolver,
  type TreeSkip,
  type TreeSkipReason,
  type DnsTreeStats,
  type DnsEnrTreeSourceOptions,
} from "./client.js";
export { dnsOverHttpsResolver, parseTxtData, type DnsOverHttpsOptions } from "./dnsOverHttps.js";
