// What the node's offer says, from what it already knows (mode, limits, retention, shards) and
// the operator's terms (contact, chain and contracts, price, months). Pure: signing and serving
// are the offer service's.
import { createRequire } from "node:module";
import type { OfferFields } from "@status/mailserver-sdk";
import type { AdmissionLimits, ServiceMode } from "./admission.js";
import type { RetentionPolicy } from "./archive/archive.js";

/** The operator's part of the offer; the rest comes from the node's own configuration. */
export interface OfferTerms {
  /** How to reach the operator (e-mail, URL, handle), at most 256 characters. */
  contact: string;
  chainId: number;
  registry?: string;
  escrow?: string;
  token?: string;
  /** Price per month in token base units, as set on the registry (which stays the source of truth). */
  pricePerMonth?: bigint;
  /** Months sold in one purchase (default 1..12). */
  months?: { min: number; max: number };
}

/** The node facts the offer repeats. */
export interface OfferNodeFacts {
  mode: ServiceMode;
  admission: AdmissionLimits;
  retention: RetentionPolicy | undefined;
  clusterId: number;
  shards: readonly number[];
}

/** `@status/mailserver-node/<version>`, from the package this code ships in. */
export const SOFTWARE: string = `@status/mailserver-node/${(createRequire(import.meta.url)("../package.json") as { version: string }).version}`;

/** The offer's fields but `issuedAt`, which is set each time it is signed. */
export function offerFields(terms: OfferTerms, node: OfferNodeFacts): Omit<OfferFields, "issuedAt"> {
  const paidOnly = node.mode === "paid-only";
  return {
    chainId: terms.chainId,
    registry: terms.registry ?? null,
    escrow: terms.escrow ?? null,
    token: terms.token ?? null,
    // A free node sells nothing: its price is 0 whatever was configured.
    pricePerMonth: node.mode === "free" ? "0" : terms.pricePerMonth === undefined ? null : terms.pricePerMonth.toString(),
    months: terms.months ?? { min: 1, max: 12 },
    mode: node.mode,
    // What the admission policy actually lets a non-paying peer do.
    free: paidOnly
      ? { queriesPerMinute: 0, burst: 0, maxConcurrent: 0 }
      : { queriesPerMinute: node.admission.freeQueriesPerMinute, burst: node.admission.freeBurst, maxConcurrent: node.admission.maxConcurrentFree },
    retention: { maxAgeSeconds: node.retention?.maxAgeSeconds ?? 0, maxBytes: node.retention?.maxBytes ?? 0 },
    capacity: { maxConcurrentQueries: node.admission.maxConcurrent, maxPaidQueue: node.admission.maxPaidQueue },
    clusterId: node.clusterId,
    shards: [...node.shards],
    software: SOFTWARE,
    contact: terms.contact,
  };
}
