// Store Resume: a node that was offline asks other store nodes, by store v3, for what it missed
// since it was last online (at most the last 6 hours, as nwaku caps it) and archives it, so a
// node's downtime costs its subscribers nothing. nwaku's `waku_store/resume.nim` is the model;
// unlike it, every bound (pages, messages, time, each request) is explicit, a peer that fails is
// replaced by the next one, and what a peer sends is checked before it is archived.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { proto_message, proto_store } from "@waku/proto";
import type { Archive, ArchivedMessage } from "./archive/archive.js";
import { exchange, RequestError, type Dial, type RequestOptions } from "./exchange.js";
import { silentLogger, type Logger } from "./log.js";
import { toArchived } from "./message.js";
import { STORE_CODEC, StoreStatus } from "./store.js";

export type { Dial } from "./exchange.js";

export interface ResumeLimits {
  /** Never ask for more than this far back, ms (nwaku: 6 h). */
  windowMs: number;
  /** Messages per page asked for (nwaku asks 100, the most its store serves). */
  pageSize: number;
  /** Each request (dial, send, answer) must complete within this, ms. */
  requestTimeoutMs: number;
  /** A whole run (all peers, all pages) stops after this, ms. */
  budgetMs: number;
  /** A run stops after receiving this many messages. */
  maxMessages: number;
  /** A run stops after this many pages (bounds a peer that sends empty or tiny pages forever). */
  maxPages: number;
  /** Largest answer accepted, bytes; 0: derived from `pageSize` and `maxMessageBytes`. */
  maxResponseBytes: number;
  /** Largest encoded WakuMessage archived (the node's own limit). */
  maxMessageBytes: number;
  /**
   * Margin added to both ends of the time range, ms: a message sent just before this node went
   * offline may carry a timestamp up to the allowed clock drift (20 s) earlier than its arrival.
   */
  overlapMs: number;
  /** Consecutive 429 answers from one peer waited out (doubling waits) before moving to the next peer. */
  rateLimitRetries: number;
  /** The first wait after a 429, ms. */
  rateLimitDelayMs: number;
  /** Runs at start when every peer failed (nwaku: 3 tries, 30 s apart). */
  attempts: number;
  retryDelayMs: number;
  /** How often the last-online time is saved, ms (nwaku: every minute). */
  saveIntervalMs: number;
}

export const DEFAULT_RESUME_LIMITS: ResumeLimits = {
  windowMs: 6 * 3_600_000,
  pageSize: 100,
  requestTimeoutMs: 10_000,
  budgetMs: 10 * 60_000,
  maxMessages: 500_000,
  maxPages: 10_000,
  maxResponseBytes: 0,
  maxMessageBytes: 150 * 1024,
  overlapMs: 20_000,
  rateLimitRetries: 3,
  rateLimitDelayMs: 1000,
  attempts: 3,
  retryDelayMs: 30_000,
  saveIntervalMs: 60_000,
};

export interface StoreResumeInit extends Partial<ResumeLimits> {
  dial: Dial;
  archive: Archive;
  /** The node's pubsub topics: each is queried, and only messages on them are archived. */
  pubsubTopics: readonly string[];
  /** Store peers to ask, in order of preference: multiaddrs with `/p2p/<peer id>` (or a function giving them, e.g. from discovery). */
  peers: readonly string[] | (() => readonly string[] | Promise<readonly string[]>);
  /** Where the last-online time is kept (JSON, written atomically). Missing or unreadable: never online. */
  lastOnlineFile: string;
  logger?: Logger;
}

export type RejectReason = "topic" | "hash" | "invalid" | "size" | "time";

/** Why a run stopped before every topic was fetched to its end. */
export type ResumeStop = "max-messages" | "max-pages" | "budget" | "stopped" | "archive-error" | "no-peer";

export interface ResumeReport {
  /** The peer that served the run to its end; undefined when no peer did. */
  peer: string | undefined;
  /** The time range asked for, ms since the epoch (inclusive). */
  from: number;
  to: number;
  /** The last-online time read at the start (undefined: never online, or the file was unreadable). */
  lastOnline: number | undefined;
  pages: number;
  /** Messages the peers sent. */
  received: number;
  /** Messages new to the archive. */
  archived: number;
  /** Valid messages the archive already held. */
  duplicates: number;
  /** Messages dropped by validation (see `rejectedBy`). */
  rejected: number;
  rejectedBy: Record<RejectReason, number>;
  /** Every topic was fetched to its last page. */
  complete: boolean;
  stoppedBy: ResumeStop | undefined;
  /** Peers that failed during this run, in order, with why. */
  failures: { peer: string; error: string }[];
  ms: number;
}

export { RequestError as StoreClientError, type RequestOptions as StoreQueryOptions } from "./exchange.js";

/**
 * One store v3 request to `peer`: one stream, one length-prefixed `StoreQueryRequest` out, one
 * `StoreQueryResponse` in, within `timeoutMs` and `maxResponseBytes`. The answer's status is the
 * caller's to check. Throws `StoreClientError`.
 */
export async function queryStore(dial: Dial, peer: string, request: proto_store.StoreQueryRequest, options: RequestOptions): Promise<proto_store.StoreQueryResponse> {
  const bytes = await exchange(dial, peer, STORE_CODEC, proto_store.StoreQueryRequest.encode(request), options);
  try {
    return proto_store.StoreQueryResponse.decode(bytes);
  } catch (error) {
    throw new RequestError("malformed", `undecodable answer: ${message(error)}`);
  }
}

export interface ResumedCheck {
  pubsubTopics: ReadonlySet<string>;
  maxMessageBytes: number;
  /** The time range asked for, ns, inclusive. */
  fromNs: bigint;
  toNs: bigint;
}

/**
 * Checks one message a store peer sent and gives what to archive. No ±20 s check against now
 * (these are historical); instead: our pubsub topics only, a decodable non-ephemeral message
 * with a content topic, the size limit, a timestamp in the range asked for, and the hash the
 * peer gave equal to the one computed here (the archive dedupes by hash, so a wrong one could
 * shadow the real message).
 */
export function checkResumed(entry: proto_store.WakuMessageKeyValue, check: ResumedCheck): { message: ArchivedMessage } | { reason: RejectReason } {
  const { message: wire, messageHash: given, pubsubTopic } = entry;
  if (pubsubTopic === undefined || !check.pubsubTopics.has(pubsubTopic)) return { reason: "topic" };
  if (wire === undefined || given === undefined || given.length !== 32 || wire.contentTopic === "" || wire.ephemeral === true) return { reason: "invalid" };
  const encoded = proto_message.WakuMessage.encode(wire);
  if (encoded.length > check.maxMessageBytes) return { reason: "size" };
  const timestamp = wire.timestamp ?? 0n;
  if (timestamp < check.fromNs || timestamp > check.toNs) return { reason: "time" };
  const archived = toArchived(pubsubTopic, wire, encoded);
  if (!equal(archived.hash, given)) return { reason: "hash" };
  return { message: archived };
}

/** The saved last-online time, ms; undefined when the file is missing or not a valid record. */
export async function readLastOnline(file: string): Promise<number | undefined> {
  return (await loadLastOnline(file)).ms;
}

/** The saved time, or why there is none that can be used (a missing file is no problem: a first start). */
async function loadLastOnline(file: string): Promise<{ ms?: number; problem?: string }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? {} : { problem: `cannot read it: ${code ?? message(error)}` };
  }
  let value: unknown;
  try {
    value = (JSON.parse(text) as { lastOnlineMs?: unknown } | null)?.lastOnlineMs;
  } catch {
    return { problem: "not JSON" };
  }
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? { ms: value } : { problem: "no valid lastOnlineMs" };
}

/** Saves the last-online time: a temporary file flushed, then renamed over the old one. */
export async function writeLastOnline(file: string, ms: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify({ lastOnlineMs: ms, lastOnline: new Date(ms).toISOString() })}\n`, { flush: true });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Thrown inside a run when a bound is reached: ends the run, not just the peer. */
class RunStop extends Error {
  constructor(readonly why: ResumeStop) {
    super(why);
  }
}

interface RunState {
  report: ResumeReport;
  check: ResumedCheck;
  signal: AbortSignal;
  budget: AbortSignal;
}

export class StoreResume {
  readonly limits: ResumeLimits;
  readonly #init: StoreResumeInit;
  readonly #log: Logger;
  readonly #maxResponseBytes: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopping: AbortController | undefined;
  #startup: Promise<ResumeReport | undefined> | undefined;
  #saving: Promise<void> = Promise.resolve();
  /** The archive is known complete since the last save: only then does the last-online time move. */
  #gapFilled = false;
  #stopped = false;

  constructor(init: StoreResumeInit) {
    const limits: ResumeLimits = { ...DEFAULT_RESUME_LIMITS };
    for (const key of Object.keys(DEFAULT_RESUME_LIMITS) as (keyof ResumeLimits)[]) {
      const value = init[key];
      if (value === undefined) continue;
      const min = key === "maxResponseBytes" || key === "overlapMs" || key === "rateLimitRetries" || key === "rateLimitDelayMs" || key === "retryDelayMs" ? 0 : 1;
      if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`store resume: ${key} must be an integer >= ${min} (got ${String(value)})`);
      limits[key] = value;
    }
    if (init.pubsubTopics.length === 0) throw new RangeError("store resume: no pubsub topics");
    if (Array.isArray(init.peers)) for (const peer of init.peers) checkPeerAddress(peer);
    this.limits = limits;
    this.#init = init;
    this.#log = init.logger ?? silentLogger;
    // Room for a full page of the largest messages, each with its hash and topic.
    this.#maxResponseBytes = limits.maxResponseBytes > 0 ? limits.maxResponseBytes : limits.pageSize * (limits.maxMessageBytes + 1024) + 4096;
  }

  /**
   * Runs resume in the background (up to `attempts` runs, `retryDelayMs` apart, while every peer
   * fails) and saves the last-online time every `saveIntervalMs` once the gap is filled.
   */
  start(): void {
    if (this.#startup !== undefined || this.#stopped) return;
    const stopping = (this.#stopping = new AbortController());
    this.#startup = this.#startupRuns(stopping.signal).catch((error: unknown) => {
      this.#log.log("error", "resume-failed", { error: message(error) });
      return undefined;
    });
    this.#timer = setInterval(() => void this.#saveNow(), this.limits.saveIntervalMs);
    this.#timer.unref();
  }

  /** The report of the start-up runs (the last one), once they are over; undefined before `start()`. */
  async whenResumed(): Promise<ResumeReport | undefined> {
    return this.#startup;
  }

  /** Stops the timer and any run in flight, then saves the last-online time a last time. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#stopping?.abort(new RunStop("stopped"));
    await this.#startup;
    await this.#saveNow();
  }

  /**
   * One run: asks the peers in turn, from max(last online − overlap, now − window) to now +
   * overlap, every pubsub topic, page by page; a peer that fails (no answer in time, an error
   * status, a broken answer) leaves its unfinished topics to the next peer. Never throws.
   */
  async resume(signal?: AbortSignal): Promise<ResumeReport> {
    const started = performance.now();
    const now = Date.now();
    const { windowMs, overlapMs } = this.limits;
    const saved = await loadLastOnline(this.#init.lastOnlineFile);
    if (saved.problem !== undefined) this.#log.log("warn", "resume-last-online-unreadable", { file: this.#init.lastOnlineFile, problem: saved.problem });
    let lastOnline = saved.ms;
    if (lastOnline !== undefined && lastOnline > now + overlapMs) {
      this.#log.log("warn", "resume-last-online-ahead", { lastOnline, now });
      lastOnline = undefined;
    }
    const from = Math.max(lastOnline === undefined ? 0 : lastOnline - overlapMs, now - windowMs);
    const to = now + overlapMs;
    const report: ResumeReport = {
      peer: undefined,
      from,
      to,
      lastOnline,
      pages: 0,
      received: 0,
      archived: 0,
      duplicates: 0,
      rejected: 0,
      rejectedBy: { topic: 0, hash: 0, invalid: 0, size: 0, time: 0 },
      complete: false,
      stoppedBy: undefined,
      failures: [],
      ms: 0,
    };
    const budget = new AbortController();
    const budgetTimer = setTimeout(() => budget.abort(new RunStop("budget")), this.limits.budgetMs);
    budgetTimer.unref();
    const state: RunState = {
      report,
      check: { pubsubTopics: new Set(this.#init.pubsubTopics), maxMessageBytes: this.limits.maxMessageBytes, fromNs: BigInt(from) * 1_000_000n, toNs: BigInt(to) * 1_000_000n },
      signal: signal === undefined ? budget.signal : AbortSignal.any([signal, budget.signal]),
      budget: budget.signal,
    };
    try {
      const peers = await this.#peers();
      this.#log.log("info", "resume-started", { from: new Date(from).toISOString(), to: new Date(to).toISOString(), lastOnline: lastOnline ?? null, peers });
      const pending = [...this.#init.pubsubTopics];
      for (const peer of peers) {
        try {
          while (pending.length > 0) {
            await this.#fetchTopic(peer, pending[0]!, state);
            pending.shift();
          }
          report.peer = peer;
          report.complete = true;
          break;
        } catch (error) {
          if (error instanceof RunStop) {
            report.stoppedBy = error.why;
            break;
          }
          if (state.signal.aborted) {
            report.stoppedBy = state.budget.aborted ? "budget" : "stopped";
            break;
          }
          report.failures.push({ peer, error: message(error) });
          this.#log.log("warn", "resume-peer-failed", { peer, error: message(error), topicsLeft: pending.length });
        }
      }
      if (!report.complete && report.stoppedBy === undefined) report.stoppedBy = "no-peer";
    } catch (error) {
      report.failures.push({ peer: "", error: message(error) });
      report.stoppedBy = "no-peer";
    } finally {
      clearTimeout(budgetTimer);
    }
    report.ms = Math.round(performance.now() - started);
    if (report.complete) this.#log.log("info", "resume-done", { ...report });
    else if (report.stoppedBy === "no-peer") this.#log.log("warn", "resume-no-peer", { ...report, why: report.failures.length === 0 ? "no store peers configured" : "no store peer answered" });
    else this.#log.log("warn", "resume-incomplete", { ...report });
    return report;
  }

  /** Pages one topic to its end on one peer. */
  async #fetchTopic(peer: string, pubsubTopic: string, state: RunState): Promise<void> {
    const { report, check } = state;
    let cursor: Uint8Array | undefined;
    let rateLimited = 0;
    for (;;) {
      if (report.pages >= this.limits.maxPages) throw new RunStop("max-pages");
      const room = this.limits.maxMessages - report.received;
      if (room <= 0) throw new RunStop("max-messages");
      const limit = Math.min(this.limits.pageSize, room);
      const requestId = randomUUID();
      const request: proto_store.StoreQueryRequest = {
        requestId,
        includeData: true,
        pubsubTopic,
        contentTopics: [],
        timeStart: check.fromNs,
        timeEnd: check.toNs,
        messageHashes: [],
        ...(cursor !== undefined ? { paginationCursor: cursor } : {}),
        paginationForward: true,
        paginationLimit: BigInt(limit),
      };
      const response = await queryStore(this.#init.dial, peer, request, { timeoutMs: this.limits.requestTimeoutMs, maxResponseBytes: this.#maxResponseBytes, signal: state.signal });
      if (response.requestId !== requestId) throw new RequestError("malformed", "answer to another request id");
      if (response.statusCode === StoreStatus.TOO_MANY_REQUESTS && rateLimited < this.limits.rateLimitRetries) {
        await sleep(this.limits.rateLimitDelayMs * 2 ** rateLimited++, state.signal);
        continue;
      }
      if (response.statusCode !== StoreStatus.OK) {
        throw new RequestError("status", `status ${response.statusCode ?? "none"}: ${(response.statusDesc ?? "").slice(0, 200)}`, response.statusCode);
      }
      rateLimited = 0;
      if (response.messages.length > limit) throw new RequestError("malformed", `a page of ${response.messages.length} messages, asked for ${limit}`);
      report.pages++;
      report.received += response.messages.length;
      const accepted: ArchivedMessage[] = [];
      for (const entry of response.messages) {
        const checked = checkResumed(entry, check);
        if ("message" in checked) accepted.push(checked.message);
        else {
          report.rejected++;
          report.rejectedBy[checked.reason]++;
        }
      }
      if (accepted.length > 0) {
        let added: number;
        try {
          added = await this.#init.archive.put(accepted);
        } catch (error) {
          this.#log.log("error", "resume-archive-failed", { error: message(error) });
          throw new RunStop("archive-error");
        }
        report.archived += added;
        report.duplicates += accepted.length - added;
      }
      this.#log.log("debug", "resume-page", { peer, pubsubTopic, messages: response.messages.length, accepted: accepted.length });
      const next = response.paginationCursor;
      // No cursor: the last page. An empty page cannot move forward either (js-waku stops there too).
      if (next === undefined || next.length === 0 || response.messages.length === 0) return;
      if (next.length !== 32) throw new RequestError("malformed", "invalid cursor");
      if (cursor !== undefined && equal(next, cursor)) throw new RequestError("malformed", "the cursor did not move");
      cursor = next;
    }
  }

  async #startupRuns(signal: AbortSignal): Promise<ResumeReport> {
    for (let attempt = 1; ; attempt++) {
      const report = await this.resume(signal);
      if (report.complete) {
        this.#gapFilled = true;
        await this.#saveNow();
        return report;
      }
      // Retried only when no peer could serve: a bound reached would be reached again.
      if (report.stoppedBy !== "no-peer" || attempt >= this.limits.attempts || signal.aborted) {
        if (report.stoppedBy === "no-peer") this.#log.log("warn", "resume-gave-up", { attempts: attempt, from: new Date(report.from).toISOString() });
        return report;
      }
      this.#log.log("info", "resume-retry", { attempt, of: this.limits.attempts, inMs: this.limits.retryDelayMs });
      try {
        await sleep(this.limits.retryDelayMs, signal);
      } catch {
        return report;
      }
    }
  }

  // Until the gap is filled the old time stays, so a restart asks for the gap again.
  async #saveNow(): Promise<void> {
    if (!this.#gapFilled) return;
    const at = Date.now();
    this.#saving = this.#saving.then(() =>
      writeLastOnline(this.#init.lastOnlineFile, at).then(
        () => this.#log.log("debug", "last-online-saved", { at }),
        (error: unknown) => this.#log.log("error", "last-online-save-failed", { file: this.#init.lastOnlineFile, error: message(error) }),
      ),
    );
    await this.#saving;
  }

  async #peers(): Promise<readonly string[]> {
    const peers = this.#init.peers;
    if (Array.isArray(peers)) return peers;
    const found = await (peers as () => readonly string[] | Promise<readonly string[]>)();
    return found.filter((peer) => {
      try {
        checkPeerAddress(peer);
        return true;
      } catch (error) {
        this.#log.log("warn", "resume-bad-peer", { peer: peer.slice(0, 200), error: message(error) });
        return false;
      }
    });
  }
}

function checkPeerAddress(peer: string): void {
  if (typeof peer !== "string" || !peer.startsWith("/") || !/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(peer)) {
    throw new RangeError(`store resume: peer ${JSON.stringify(String(peer).slice(0, 120))} must be a multiaddr ending in /p2p/<peer id>`);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
