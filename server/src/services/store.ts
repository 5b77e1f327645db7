// The store service (`/vac/waku/store-query/3.0.0`): admission first (who may ask, and whether
// there is room), then the pure query against the archive (store.ts), then one answer.
import { readEligibilityProof, withEligibilityStatus, type EligibilityStatus } from "@status/mailserver-sdk";
import { proto_store } from "@waku/proto";
import { presentEncodedGrant, type GrantGate } from "../access.js";
import { PriorityScheduler, SHED_STATUS, type AdmissionPolicy, type ServiceMode } from "../admission.js";
import type { Archive } from "../archive/archive.js";
import { EventLoopLoad } from "../load.js";
import type { Logger } from "../log.js";
import { answerStoreQuery, STORE_CODEC, storeError, StoreStatus, type StoreLimits, type StoreResponse } from "../store.js";
import { writeResponse } from "../streams.js";
import { readOrDrop, serve, type HandlerContext, type Registrar, type StreamLimits } from "./protocol.js";

export interface StoreInit {
  mode: ServiceMode;
  archive: Archive;
  gate: GrantGate | undefined;
  admission: AdmissionPolicy;
  limits: StoreLimits;
  /** Largest store request accepted, bytes. */
  maxRequestBytes: number;
  streams: StreamLimits;
  logger: Logger;
}

type Access = ReturnType<GrantGate["checkPeer"]>;

/** Peers whose last accepted field-30 grant is remembered, so that repeating it costs a lookup, not a signature check. */
const MAX_REMEMBERED_PROOFS = 10_000;

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/** Field 30's verdict: admitted as paid, or the answer that refuses the request. */
type ProofVerdict = { access: Access; eligibility: EligibilityStatus } | { refusal: StoreResponse; eligibility: EligibilityStatus; reason: string };

export class StoreService {
  readonly #registrar: Registrar;
  readonly #init: StoreInit;
  readonly #scheduler: PriorityScheduler;
  /** peer → the grant (hex) it last proved payment with in field 30 (least recently used first). */
  readonly #proofs = new Map<string, string>();
  #load: EventLoopLoad | undefined;

  constructor(components: { registrar: Registrar }, init: StoreInit) {
    this.#registrar = components.registrar;
    this.#init = init;
    this.#scheduler = new PriorityScheduler(init.admission.limits, {
      spare: (continues) => init.admission.spare(continues, this.#load?.delayMs ?? 0),
    });
  }

  async start(): Promise<void> {
    // Only freemium holds free work back by the event loop's lag.
    if (this.#init.mode === "freemium") this.#load = new EventLoopLoad();
    await serve(this.#registrar, STORE_CODEC, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx));
  }

  async stop(): Promise<void> {
    this.#scheduler.close();
    this.#load?.stop();
    await this.#registrar.unhandle(STORE_CODEC);
  }

  async #handle(ctx: HandlerContext): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    const { gate, admission, mode, logger } = this.#init;
    // The request is read first (bounded, with its deadline): @waku/sdk opens a store stream on
    // every connection ahead of its first query, and such idle streams must not hold the free
    // stream slots, or a few hundred idle clients would get every free query reset.
    const bytes = await readOrDrop(ctx, STORE_CODEC, this.#init.maxRequestBytes, this.#init.streams, logger);
    if (bytes === undefined) return;
    // Then the class: a free peer's request beyond the free stream caps is reset undecoded, so a
    // flood of free requests does not get decoded and answered.
    const access: Access = gate?.checkPeer(peer) ?? { allowed: false, reason: "no-gate" };
    if (access.allowed || mode === "paid-only") return this.#answer(ctx, peer, access, bytes);
    if (!admission.openFreeStream(peer)) {
      logger.log("debug", "store-stream-reset", { peer, freeStreams: admission.freeStreamsOpen });
      ctx.stream.abort(new Error("too many free store streams"));
      return;
    }
    try {
      await this.#answer(ctx, peer, access, bytes);
    } finally {
      admission.closeFreeStream(peer);
    }
  }

  async #answer(ctx: HandlerContext, peer: string, access: Access, bytes: Uint8Array): Promise<void> {
    const { archive, admission, limits, logger } = this.#init;
    let request: proto_store.StoreQueryRequest;
    try {
      request = proto_store.StoreQueryRequest.decode(bytes);
    } catch {
      logger.log("warn", "store-refused", { peer, status: StoreStatus.BAD_REQUEST, why: "malformed" });
      await this.#write(ctx, storeError("", StoreStatus.BAD_REQUEST, "BAD_REQUEST: malformed request"));
      return;
    }
    // The field's paid-store envelope: a grant in field 30 admits this request as paid, beside the access protocol.
    let eligibility: EligibilityStatus | undefined;
    const proof = readEligibilityProof(bytes);
    if (proof.present) {
      const verdict = await this.#checkProof(peer, request.requestId, proof);
      eligibility = verdict.eligibility;
      if ("refusal" in verdict) {
        logger.log("info", "store-refused", { peer, status: verdict.refusal.statusCode, reason: verdict.reason, proof: "field-30" });
        await this.#write(ctx, verdict.refusal, eligibility);
        return;
      }
      access = verdict.access;
    }
    const admitted = admission.admit(peer, access);
    if (!admitted.admitted) {
      logger.log("info", "store-refused", { peer, status: admitted.statusCode, reason: access.allowed ? undefined : access.reason });
      await this.#write(ctx, storeError(request.requestId, admitted.statusCode, admitted.statusDesc), eligibility);
      return;
    }
    const started = performance.now();
    const continues = request.paginationCursor !== undefined && request.paginationCursor.length > 0;
    // The slot is held until the answer is written: that bounds answers in flight, and a slow
    // reader holds a free slot, not a paid one.
    let answered: StoreResponse | undefined;
    const result = await this.#scheduler.run(
      admitted.serviceClass,
      async () => {
        // A peer that gave up while its query waited gets no work done for it.
        if (ctx.stream.status !== undefined && ctx.stream.status !== "open") return;
        answered = await answerStoreQuery(request, archive, limits);
        await this.#write(ctx, answered, eligibility);
      },
      continues,
    );
    if (result === undefined) {
      // A free query refused after waiting costs its peer no token.
      if (admitted.serviceClass === "free") {
        admission.refund(peer);
        answered = storeError(request.requestId, SHED_STATUS.statusCode, SHED_STATUS.statusDesc);
      } else {
        answered = storeError(request.requestId, StoreStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE: overloaded, try later");
      }
      await this.#write(ctx, answered, eligibility);
    }
    logger.log(result === undefined ? "info" : "debug", result === undefined ? "store-shed" : "store-query", {
      peer,
      class: admitted.serviceClass,
      clientId: access.allowed ? access.clientId : undefined,
      status: answered?.statusCode,
      messages: answered?.messages.length,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  }

  /** One answer; with the request's field 30 answered in the response's field 30. */
  async #write(ctx: HandlerContext, response: StoreResponse, eligibility?: EligibilityStatus): Promise<void> {
    const encoded = proto_store.StoreQueryResponse.encode(response);
    await writeResponse(ctx.stream, eligibility === undefined ? encoded : withEligibilityStatus(encoded, eligibility), this.#init.streams.writeTimeoutMs);
  }

  /**
   * Field 30's proof of payment, taken as our access grant (bound to this connection's peer id),
   * verified as the access protocol verifies it. A proof that fails gets LIP-155's refusal: 400
   * with the verdict (402, nwaku's "Payment Required", and the reason) in the response's field 30;
   * a subscription the node cannot check now gets 503 ("try later"), since paying would not help.
   */
  async #checkProof(peer: string, requestId: string, proof: ReturnType<typeof readEligibilityProof> & { present: true }): Promise<ProofVerdict> {
    const refuse = (reason: string): ProofVerdict => ({
      refusal: storeError(requestId, StoreStatus.BAD_REQUEST, `BAD_REQUEST: eligibility proof refused: ${reason}`),
      eligibility: { statusCode: StoreStatus.PAYMENT_REQUIRED, statusDesc: `Payment Required: ${reason}` },
      reason,
    });
    if ("invalid" in proof) return refuse(proof.invalid);
    const gate = this.#init.gate;
    if (gate === undefined) return refuse("this node checks no payments");
    const key = hex(proof.proofOfPayment);
    const known = this.#proofs.get(peer) === key ? gate.checkPeer(peer) : undefined;
    let access: Access;
    if (known?.allowed) {
      access = known;
    } else {
      const answer = await presentEncodedGrant(gate, proof.proofOfPayment, { connectionPeerId: peer });
      if (!answer.accepted) {
        if (answer.reason !== "unavailable") return refuse(answer.reason);
        return {
          refusal: storeError(requestId, StoreStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE: cannot check the subscription now, try later"),
          eligibility: { statusCode: StoreStatus.SERVICE_UNAVAILABLE, statusDesc: "Service Unavailable: cannot check the subscription now, try later" },
          reason: "unavailable",
        };
      }
      access = { allowed: true, clientId: answer.clientId };
    }
    this.#proofs.delete(peer);
    this.#proofs.set(peer, key);
    if (this.#proofs.size > MAX_REMEMBERED_PROOFS) this.#proofs.delete(this.#proofs.keys().next().value!);
    return { access, eligibility: { statusCode: StoreStatus.OK, statusDesc: "OK" } };
  }
}

export function storeService(init: StoreInit): (components: { registrar: Registrar }) => StoreService {
  return (components) => new StoreService(components, init);
}
