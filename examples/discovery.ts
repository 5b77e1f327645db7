// App developers: find Status's store nodes through its DNS tree and discv5, only those of its
// network. README.md shows the part between the README markers; test/mocha/discovery-dns.test.ts
// runs it against a DNS server and discv5 nodes on loopback.
import { DnsEnrTreeSource, STATUS_NETWORK, STATUS_PROD_ENRTREE, combineSources, filterSource, type TxtResolver } from "@status/mailserver-sdk";
import { Discv5CrawlerSource, nodeDnsResolver } from "@status/mailserver-sdk/discovery";

export async function discoveryExample(bootEnrs: string[], resolveTxt: TxtResolver = nodeDnsResolver(), url = STATUS_PROD_ENRTREE, bindIp = "0.0.0.0") {
  // README:start
  // url = STATUS_PROD_ENRTREE; resolveTxt = nodeDnsResolver() on Node, dnsOverHttpsResolver() in browsers.
  const dns = new DnsEnrTreeSource({ url, resolveTxt }); // root signed by the URL's key, every entry matches its hash
  const discv5 = new Discv5CrawlerSource({ bootEnrs, bindIp }); // keeps ENRs with the waku2 store bit
  // Only mail servers of Status's network (cluster 16, shards 1, 32, 64, 128, 256).
  const network = { kind: "mailserver", ...STATUS_NETWORK };
  const sources = combineSources(filterSource(dns, network), filterSource(discv5, network));
  const { nodes, failures } = await sources.discoverDetailed(); // deduplicated by node id, newest seq wins
  for (const node of nodes) console.log(node.parsed.peerId, node.parsed.multiaddrs.join(" "), node.sources.join("+"));
  // README:end
  return { nodes, failures, dns };
}
