// A real DNS server on loopback (dns2, UDP and TCP on one free port) serving TXT records from a
// map that tests can change between lookups.
import dns2 from "dns2";
import { txtStrings, type EnrTree } from "@status/mailserver-sdk";
import { freePort } from "./hardhatCli.js";

export interface TxtZone {
  /** name (lowercase, no trailing dot) -> TXT character-strings. */
  records: Map<string, string[]>;
  /** `ip:port` for `nodeDnsResolver({ servers })`. */
  server: string;
  port: number;
  /** Names asked, in order. */
  queries: string[];
  /** Adds a tree's records (root at its domain), each text split into 255-byte strings. */
  publish(tree: EnrTree): void;
  set(name: string, text: string): void;
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<TxtZone> {
  const records = new Map<string, string[]>();
  const queries: string[] = [];
  const { Packet } = dns2;
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle(request: any, send: (response: any) => void) {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = String(question?.name ?? "").toLowerCase().replace(/\.$/, "");
      queries.push(name);
      const strings = records.get(name);
      if (strings === undefined || question.type !== Packet.TYPE.TXT) response.header.rcode = 3; // NXDOMAIN
      else response.answers.push({ name: question.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 60, data: strings } as unknown as (typeof response.answers)[number]);
      send(response);
    },
  });
  const port = await freePort();
  await server.listen({ udp: { port, address: "127.0.0.1" }, tcp: { port, address: "127.0.0.1" } });
  const zone: TxtZone = {
    records,
    port,
    server: `127.0.0.1:${port}`,
    queries,
    publish(tree) {
      records.set(tree.domain, txtStrings(tree.rootText));
      for (const [label, text] of tree.entries) records.set(`${label}.${tree.domain}`.toLowerCase(), txtStrings(text));
    },
    set(name, text) {
      records.set(name.toLowerCase(), txtStrings(text));
    },
    close: () => server.close(),
  };
  return zone;
}
