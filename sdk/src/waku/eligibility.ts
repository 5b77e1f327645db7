// The paid-store envelope of the field (RFC 73 WAKU2-INCENTIVIZATION, as Logos's LIP-155 payment
// streams carry it): an `EligibilityProof` in field 30 of a store v3 `StoreQueryRequest`, an
// `EligibilityStatus` in field 30 of the `StoreQueryResponse`. Messages as nwaku defines them
// (waku/incentivization/rpc_codec.nim):
//   message EligibilityProof  { optional bytes proof_of_payment = 1; }
//   message EligibilityStatus { uint32 status_code = 1; optional string status_desc = 2; }
// A mail server takes our access grant (encodeAccessGrant's bytes) as `proof_of_payment`, so a
// client that can add bytes to its store request needs no access stream. Wire only, isomorphic,
// no protobuf dependency: field 30 is added to (or read from) an already encoded message.
import { MailserverSdkError } from "../errors.js";
import { frame, readFrame, type Chunk } from "./frame.js";

/** The field number of the envelope in `StoreQueryRequest` and `StoreQueryResponse`. */
export const ELIGIBILITY_FIELD = 30;
/** The store v3 protocol id. */
export const STORE_QUERY_PROTOCOL = "/vac/waku/store-query/3.0.0";
/**
 * Largest `EligibilityProof` a mail server reads (an access grant is at most 262 bytes; room for
 * other proofs); a larger field 30 is refused unread.
 */
export const MAX_ELIGIBILITY_PROOF_BYTES = 1024;

export interface EligibilityStatus {
  statusCode: number;
  statusDesc?: string;
}

/** What field 30 of a request holds. */
export type EligibilityProofField =
  | { present: false }
  | { present: true; proofOfPayment: Uint8Array }
  /** Present but unusable: too large, repeated, malformed, or without `proof_of_payment`. */
  | { present: true; invalid: string };

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function lengthDelimited(field: number, bytes: Uint8Array): Uint8Array {
  const head = [...varint((field << 3) | 2), ...varint(bytes.length)];
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head, 0);
  out.set(bytes, head.length);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

class Malformed extends Error {}

/** Reads a varint at `at`; [value, next offset]. Values above 2^53 are not needed here and refused. */
function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    if (at + i >= bytes.length) throw new Malformed("truncated varint");
    const b = bytes[at + i]!;
    if (i < 8) value += (b & 0x7f) * 2 ** (7 * i);
    else if ((b & 0x7f) !== 0) throw new Malformed("varint out of range");
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
  throw new Malformed("varint too long");
}

/** The top-level fields of a protobuf message: number, wire type, and for length-delimited ones the value's bounds. */
function* fields(bytes: Uint8Array): Generator<{ field: number; wire: number; start: number; end: number; value?: number }> {
  let at = 0;
  while (at < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, at);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new Malformed("field number 0");
    let start = afterTag;
    let end: number;
    let value: number | undefined;
    if (wire === 0) [value, end] = readVarint(bytes, afterTag);
    else if (wire === 1) end = afterTag + 8;
    else if (wire === 5) end = afterTag + 4;
    else if (wire === 2) {
      const [length, afterLength] = readVarint(bytes, afterTag);
      start = afterLength;
      end = afterLength + length;
    } else throw new Malformed(`wire type ${wire}`);
    if (end > bytes.length) throw new Malformed("truncated field");
    yield { field, wire, start, end, ...(value !== undefined ? { value } : {}) };
    at = end;
  }
}

/** The request (an encoded `StoreQueryRequest`) with `proofOfPayment` (e.g. an encoded access grant) as its field-30 `EligibilityProof`. */
export function withEligibilityProof(request: Uint8Array, proofOfPayment: Uint8Array): Uint8Array {
  if (!(proofOfPayment instanceof Uint8Array) || proofOfPayment.length === 0) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the eligibility proof must be non-empty bytes (an encoded access grant)", {});
  }
  const proof = lengthDelimited(1, proofOfPayment);
  if (proof.length > MAX_ELIGIBILITY_PROOF_BYTES) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `the eligibility proof is ${proof.length} bytes encoded, above the ${MAX_ELIGIBILITY_PROOF_BYTES} a mail server reads`, { details: { bytes: proof.length } });
  }
  return concat(request, lengthDelimited(ELIGIBILITY_FIELD, proof));
}

/**
 * Field 30 of an encoded `StoreQueryRequest` (server side). Never throws: a field over
 * MAX_ELIGIBILITY_PROOF_BYTES is not decoded, a repeated or malformed one is `invalid`.
 */
export function readEligibilityProof(request: Uint8Array): EligibilityProofField {
  let found: { start: number; end: number } | undefined;
  try {
    for (const f of fields(request)) {
      if (f.field !== ELIGIBILITY_FIELD) continue;
      if (f.wire !== 2) return { present: true, invalid: "eligibility proof is not a message" };
      if (found !== undefined) return { present: true, invalid: "more than one eligibility proof" };
      found = f;
    }
  } catch {
    return found === undefined ? { present: false } : { present: true, invalid: "malformed request" };
  }
  if (found === undefined) return { present: false };
  if (found.end - found.start > MAX_ELIGIBILITY_PROOF_BYTES) return { present: true, invalid: `eligibility proof over ${MAX_ELIGIBILITY_PROOF_BYTES} bytes` };
  const proof = request.subarray(found.start, found.end);
  let payment: Uint8Array | undefined;
  try {
    for (const f of fields(proof)) if (f.field === 1 && f.wire === 2) payment = proof.subarray(f.start, f.end);
  } catch {
    return { present: true, invalid: "malformed eligibility proof" };
  }
  // nwaku's wording for a proof without a payment.
  if (payment === undefined || payment.length === 0) return { present: true, invalid: "Eligibility proof is empty" };
  return { present: true, proofOfPayment: payment };
}

/** The response (an encoded `StoreQueryResponse`) with `status` as its field-30 `EligibilityStatus` (server side). */
export function withEligibilityStatus(response: Uint8Array, status: EligibilityStatus): Uint8Array {
  const code = [0x08, ...varint(status.statusCode >>> 0)];
  const desc = status.statusDesc === undefined ? new Uint8Array(0) : lengthDelimited(2, new TextEncoder().encode(status.statusDesc));
  return concat(response, lengthDelimited(ELIGIBILITY_FIELD, concat(Uint8Array.from(code), desc)));
}

/** Field 30 of an encoded `StoreQueryResponse`, or undefined when absent (client side). Throws NODE_UNAVAILABLE on a malformed one. */
export function readEligibilityStatus(response: Uint8Array): EligibilityStatus | undefined {
  const bad = (why: string) => new MailserverSdkError("NODE_UNAVAILABLE", `the mail server's eligibility status is malformed: ${why}`, { details: { retryable: false } });
  let status: EligibilityStatus | undefined;
  try {
    for (const f of fields(response)) {
      if (f.field !== ELIGIBILITY_FIELD) continue;
      if (f.wire !== 2) throw bad("not a message");
      const body = response.subarray(f.start, f.end);
      let statusCode: number | undefined;
      let statusDesc: string | undefined;
      for (const g of fields(body)) {
        if (g.field === 1 && g.wire === 0) statusCode = g.value!;
        else if (g.field === 2 && g.wire === 2) statusDesc = new TextDecoder().decode(body.subarray(g.start, g.end));
      }
      if (statusCode === undefined) throw bad("no status_code");
      status = { statusCode, ...(statusDesc !== undefined ? { statusDesc } : {}) };
    }
  } catch (error) {
    if (error instanceof MailserverSdkError) throw error;
    throw bad((error as Error).message);
  }
  return status;
}

/** A libp2p 2 stream (`source`/`sink`) or a libp2p 3 stream (`send`, async iterable). */
type StoreStream =
  | { source: AsyncIterable<Chunk>; sink(source: Iterable<Uint8Array>): Promise<void>; close?(): Promise<void>; abort?(error: Error): void }
  | (AsyncIterable<Chunk> & { send(data: Uint8Array): unknown; close?(): Promise<void>; abort?(error: Error): void });

/** The part of a libp2p node `queryStoreWithProof` needs. */
export interface StoreLibp2p {
  dialProtocol(peer: never, protocol: string, options?: { signal?: AbortSignal }): Promise<unknown>;
}

export interface StoreQueryAnswer {
  /** The encoded `StoreQueryResponse` (decode it with `@waku/proto`'s `proto_store`; field 30 is skipped there). */
  response: Uint8Array;
  /** The server's verdict on the proof (field 30), when it gave one. */
  eligibility: EligibilityStatus | undefined;
}

/**
 * One store v3 query carrying `proof` (an encoded access grant, e.g. from `accessGrantMaker`) in
 * field 30, on one stream of the caller's libp2p connection to `peer`: the grant and the query
 * travel together, no access stream first. `request` is an encoded `StoreQueryRequest`
 * (`proto_store.StoreQueryRequest.encode(...)`). A refused proof comes back as the response's 400
 * with the server's reason in `eligibility` (see `storeRefusal`). NODE_UNAVAILABLE when no answer
 * comes within `timeoutMs` (default 10 s).
 */
export async function queryStoreWithProof(
  libp2p: StoreLibp2p,
  peer: unknown,
  request: Uint8Array,
  options: { proof: Uint8Array; timeoutMs?: number; maxResponseBytes?: number },
): Promise<StoreQueryAnswer> {
  const bytes = withEligibilityProof(request, options.proof);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeoutMs);
  let stream: StoreStream | undefined;
  const exchange = async (): Promise<Uint8Array> => {
    stream = (await libp2p.dialProtocol(peer as never, STORE_QUERY_PROTOCOL, { signal })) as StoreStream;
    if ("sink" in stream) await stream.sink([frame(bytes)]);
    else {
      stream.send(frame(bytes));
      await stream.close?.();
    }
    // Read to the end (the server closes after its one answer), as @waku/sdk does: a stream left
    // early makes the server's close frame arrive for a stream mplex has forgotten.
    const max = options.maxResponseBytes ?? 4 * 1024 * 1024;
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of "source" in stream ? stream.source : stream) {
      const piece = chunk instanceof Uint8Array ? chunk : chunk.subarray();
      chunks.push(piece);
      total += piece.length;
      if (total > max + 8) break;
    }
    return readFrame((async function* () {
      yield* chunks;
    })(), max);
  };
  let response: Uint8Array;
  try {
    response = await new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      exchange().then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  } catch (error) {
    (stream as { abort?(error: Error): void } | undefined)?.abort?.(new Error("store query abandoned"));
    throw new MailserverSdkError("NODE_UNAVAILABLE", signal.aborted ? `the mail server did not answer the store query within ${timeoutMs} ms` : "the store query to the mail server failed", {
      cause: error,
      details: { protocol: STORE_QUERY_PROTOCOL, timeoutMs, timedOut: signal.aborted, retryable: true },
    });
  }
  return { response, eligibility: readEligibilityStatus(response) };
}
