// The offer service (`/status/mailserver/offer/1.0.0`): answers every stream with the node's
// signed offer, one length-prefixed frame (format in @status/mailserver-sdk's offer/document.ts). The
// client sends nothing or an empty request, so nothing is read. The offer is signed at start
// (a bad one fails the start, not a client) and again once it is older than `refreshSeconds`,
// so that clients can refuse stale ones.
import { encodeOffer, signOffer, type OfferFields } from "@status/mailserver-sdk";
import type { Logger } from "../log.js";
import { writeResponse } from "../streams.js";
import { serve, type HandlerContext, type Registrar, type StreamLimits } from "./protocol.js";

export const OFFER_CODEC = "/status/mailserver/offer/1.0.0";

export interface OfferInit {
  /** The node key (secp256k1, 32 bytes): the offer is bound to its node id. */
  privateKey: Uint8Array;
  fields: Omit<OfferFields, "issuedAt">;
  /** Re-sign when the served offer is older than this (default 1 h). */
  refreshSeconds?: number;
  streams: StreamLimits;
  logger: Logger;
  /** Clock in unix seconds (default: this machine's). */
  now?: () => number;
}

export class OfferService {
  readonly #registrar: Registrar;
  readonly #init: OfferInit;
  #signed: Promise<{ bytes: Uint8Array; issuedAt: number }> | undefined;

  constructor(components: { registrar: Registrar }, init: OfferInit) {
    this.#registrar = components.registrar;
    this.#init = init;
  }

  async start(): Promise<void> {
    await this.current();
    await serve(this.#registrar, OFFER_CODEC, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx));
  }

  async stop(): Promise<void> {
    await this.#registrar.unhandle(OFFER_CODEC);
  }

  /** The encoded signed offer now served (signed again when stale; one signing at a time). */
  async current(): Promise<Uint8Array> {
    const now = this.#now();
    const cached = this.#signed;
    if (cached !== undefined) {
      const { bytes, issuedAt } = await cached;
      if (now - issuedAt < (this.#init.refreshSeconds ?? 3600)) return bytes;
      if (this.#signed !== cached) return (await this.#signed!).bytes;
    }
    const signing = signOffer(this.#init.privateKey, { ...this.#init.fields, issuedAt: now }).then((signed) => ({ bytes: encodeOffer(signed), issuedAt: now }));
    this.#signed = signing;
    // A failed signing must not stick: the next request tries again.
    signing.catch(() => {
      if (this.#signed === signing) this.#signed = cached;
    });
    return (await signing).bytes;
  }

  #now(): number {
    return this.#init.now?.() ?? Math.floor(Date.now() / 1000);
  }

  async #handle(ctx: HandlerContext): Promise<void> {
    await writeResponse(ctx.stream, await this.current());
  }
}

export function offerService(init: OfferInit): (components: { registrar: Registrar }) => OfferService {
  return (components) => new OfferService(components, init);
}
