// Client side of the mail server's access protocol: present an access grant on the libp2p
// connection a Waku client (e.g. the node inside `@waku/sdk`) uses for its store queries, and
// present a fresh one before the previous one ends. Isomorphic: no Node built-ins, no libp2p
// dependency of its own; the caller's libp2p node and peer objects are passed through untouched
// (objects of one libp2p major version do not work in another).
import type { Signer } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { encodeAccessGrant, signAccessGrant, MAX_GRANT_TTL_SECONDS } from "../gate/grant.js";
import type { AccessDomain } from "../gate/request.js";
import { frame, readFrame, type Chunk } from "./frame.js";

/** Protocol id of the access protocol (must equal the server's). */
export const ACCESS_PROTOCOL = "/status/mailserver/access/1.0.0";

/** A libp2p 2 stream (`source`/`sink`, as in @waku/sdk 0.0.36) or a libp2p 3 stream (`send`, async iterable). */
export type AccessStream =
  | { source: AsyncIterable<Chunk>; sink(source: Iterable<Uint8Array>): Promise<void>; close?(): Promise<void> }
  | (AsyncIterable<Chunk> & { send(data: Uint8Array): unknown; close?(): Promise<void> });

/** A `peer:connect` event of libp2p 2 or 3: its detail is the peer id that connected. */
type PeerConnectEvent = { detail: { toString(): string } };

/** The part of a libp2p node this needs. */
export interface AccessLibp2p {
  peerId: { toString(): string };
  dialProtocol(peer: never, protocol: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  /** libp2p's events; with them a session presents its grant again on every new connection. */
  addEventListener?(type: "peer:connect", listener: (event: PeerConnectEvent) => void): void;
  removeEventListener?(type: "peer:connect", listener: (event: PeerConnectEvent) => void): void;
}

/** What the server answered. */
export type AccessAnswer = { accepted: true; clientId: string; until: number } | { accepted: false; reason: string };

/** An encoded grant and when it ends (unix seconds). */
export interface EncodedGrant {
  bytes: Uint8Array;
  expiresAt: number;
}

/**
 * Presents one encoded grant to `peer` (a peer id or multiaddr object of the caller's own libp2p)
 * and resolves to the server's answer. Throws NODE_UNAVAILABLE when no answer comes.
 */
export async function presentAccessGrant(libp2p: AccessLibp2p, peer: unknown, grant: Uint8Array, options: { timeoutMs?: number } = {}): Promise<AccessAnswer> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeoutMs);
  const details = { protocol: ACCESS_PROTOCOL, timeoutMs };
  let stream: AccessStream;
  try {
    stream = (await untilAborted(libp2p.dialProtocol(peer as never, ACCESS_PROTOCOL, { signal }), signal)) as AccessStream;
  } catch (error) {
    throw new MailserverSdkError("NODE_UNAVAILABLE", signal.aborted ? `the mail server did not open the access protocol within ${timeoutMs} ms` : "cannot open the access protocol to the mail server", { cause: error, details: { ...details, timedOut: signal.aborted } });
  }
  try {
    // A server that accepts the stream and never reads or answers must not hold the caller: every
    // step races the deadline, and the stream is aborted when it passes.
    const exchange = async () => {
      const framed = frame(grant);
      if ("sink" in stream) await stream.sink([framed]);
      else stream.send(framed);
      return readFrame("source" in stream ? stream.source : stream, 4096);
    };
    const reply = await untilAborted(exchange(), signal);
    const answer = JSON.parse(new TextDecoder().decode(reply)) as AccessAnswer;
    if (typeof answer !== "object" || answer === null || typeof answer.accepted !== "boolean") throw new Error("not an access answer");
    return answer;
  } catch (error) {
    if (signal.aborted) (stream as { abort?: (error: Error) => void }).abort?.(new Error("access answer timed out"));
    throw new MailserverSdkError("NODE_UNAVAILABLE", signal.aborted ? `the mail server gave no access answer within ${timeoutMs} ms` : "the mail server gave no access answer", { cause: error, details: { ...details, timedOut: signal.aborted } });
  } finally {
    // close() waits for the remote to close its side too: bounded like the rest.
    if (!signal.aborted) await untilAborted(stream.close?.() ?? Promise.resolve(), AbortSignal.timeout(1_000)).catch(() => undefined);
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (the work behind it is abandoned). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * `makeGrant` for {@link AccessSession}: signs an access grant with the client key for the
 * connection's peer id (`signAccessGrant`) and encodes it for the wire.
 */
export function accessGrantMaker(options: {
  signer: Signer;
  domain: AccessDomain;
  nodeId: string;
  /** Default 24 h, the most a grant may live. */
  ttlSeconds?: number;
  /** Clock in unix seconds (default: this machine's). */
  now?: () => number;
}): (peerId: string) => Promise<EncodedGrant> {
  return async (peerId) => {
    const grant = await signAccessGrant(options.signer, options.domain, {
      nodeId: options.nodeId,
      peerId,
      ttlSeconds: options.ttlSeconds ?? MAX_GRANT_TTL_SECONDS,
      ...(options.now !== undefined ? { issuedAt: options.now() } : {}),
    });
    return { bytes: encodeAccessGrant(grant), expiresAt: grant.expiresAt };
  };
}

export interface AccessSessionOptions {
  libp2p: AccessLibp2p;
  /** The mail server: a peer id or multiaddr object of `libp2p`'s own kind. */
  peer: unknown;
  /** Makes a grant for the client's current peer id (e.g. with `signAccessGrant` + `encodeAccessGrant`). */
  makeGrant(peerId: string): Promise<EncodedGrant>;
  /** Renew this long before the grant or the accepted period ends (default 10 % of it, at least 30 s). */
  renewBeforeSeconds?: number;
  /** Called when a background renewal fails (the session keeps trying every minute). */
  onError?(error: MailserverSdkError): void;
  now?: () => number;
  timeoutMs?: number;
}

/**
 * Keeps a live grant on a mail server: `start()` presents one (throws ACCESS_REFUSED when
 * refused, NODE_UNAVAILABLE with `details.retryable` when the server cannot check subscriptions
 * now or gives no answer in time), then a timer presents a fresh one before the accepted period ends. A server holds a
 * grant for one connection only, so when the client's libp2p connects to the server again (a
 * dropped connection re-made, by the client or by a store query's dial), the session presents
 * its grant again at once. `stop()` ends it.
 */
export class AccessSession {
  readonly #options: AccessSessionOptions;
  readonly #serverPeerId: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
  #until = 0;

  constructor(options: AccessSessionOptions) {
    this.#options = options;
    this.#serverPeerId = peerIdOf(options.peer);
  }

  /** A new connection to the server: the grant of the old one is gone with it. */
  readonly #onConnect = (event: PeerConnectEvent): void => {
    if (this.#stopped || this.#serverPeerId === undefined || event.detail?.toString() !== this.#serverPeerId) return;
    this.#present().catch((error: unknown) => this.#failed(error));
  };

  /** Until when (unix seconds) the server accepted the current grant; 0 before start. */
  get until(): number {
    return this.#until;
  }

  async start(): Promise<AccessAnswer & { accepted: true }> {
    if (this.#stopped) this.#options.libp2p.addEventListener?.("peer:connect", this.#onConnect);
    this.#stopped = false;
    try {
      return await this.#present();
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  stop(): void {
    if (!this.#stopped) this.#options.libp2p.removeEventListener?.("peer:connect", this.#onConnect);
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #failed(error: unknown): void {
    const sdkError = error instanceof MailserverSdkError ? error : new MailserverSdkError("NODE_UNAVAILABLE", "grant renewal failed", { cause: error });
    this.#options.onError?.(sdkError);
    if (!this.#stopped) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#schedule(0), 60_000);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  async #present(): Promise<AccessAnswer & { accepted: true }> {
    const o = this.#options;
    const grant = await o.makeGrant(o.libp2p.peerId.toString());
    const answer = await presentAccessGrant(o.libp2p, o.peer, grant.bytes, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
    if (!answer.accepted) {
      // "unavailable": the server cannot check subscriptions now (its chain RPC is away). Paying
      // would not help: it is a try-later, like a 503 store answer.
      if (answer.reason === "unavailable") {
        throw new MailserverSdkError("NODE_UNAVAILABLE", "the mail server cannot check subscriptions right now; try again later", { details: { reason: answer.reason, retryable: true } });
      }
      throw new MailserverSdkError("ACCESS_REFUSED", `the mail server refused the access grant: ${answer.reason}`, { details: { reason: answer.reason, retryable: false } });
    }
    this.#until = answer.until;
    this.#schedule(answer.until);
    return answer;
  }

  #schedule(until: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    const now = (this.#options.now ?? (() => Math.floor(Date.now() / 1000)))();
    const span = Math.max(0, until - now);
    const before = this.#options.renewBeforeSeconds ?? Math.max(30, Math.floor(span / 10));
    const inMs = Math.max(1_000, (span - before) * 1000);
    this.#timer = setTimeout(() => {
      this.#present().catch((error: unknown) => this.#failed(error));
    }, Math.min(inMs, 2 ** 31 - 1));
    // Never keep a process alive just to renew.
    (this.#timer as { unref?: () => void }).unref?.();
  }
}

/** The peer id string of a libp2p peer id object, or of a multiaddr object ending in `/p2p/…`. */
function peerIdOf(peer: unknown): string | undefined {
  if (typeof peer !== "object" || peer === null) return undefined;
  const fromAddress = (peer as { getPeerId?: () => string | null }).getPeerId?.();
  if (typeof fromAddress === "string") return fromAddress;
  if ("getPeerId" in peer) return undefined;
  const text = String(peer);
  return text.startsWith("/") ? undefined : text;
}
