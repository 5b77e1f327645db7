// What a user choosing where to keep their messages wants to see of a server (its offer: retention,
// free tier, when it was signed; the probes' measures and who took them, over which period; its
// rank and why), and what a subscriber must not miss (when it ends, and whether auto-renew would go
// through).
import type { NodeQuality, OfferDocument } from "@status/mailserver-sdk";
import { h } from "./dom.js";
import { amount, date, short, type TokenInfo } from "./format.js";
import type { MySubscription, Server } from "./mailservers.js";
import type { Quality } from "./quality.js";

const DAY = 86_400;

const pct = (ratio: number) => `${(ratio * 100).toLocaleString("en-US", { maximumFractionDigits: 1 })}%`;

function span(seconds: number): string {
  if (seconds % DAY === 0 || seconds >= 2 * DAY) return `${Math.round(seconds / DAY)} days`;
  return `${Math.round(seconds / 3600)} hours`;
}

function size(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toLocaleString("en-US", { maximumFractionDigits: 1 })} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** "30 days, up to 1 GiB" */
export function retentionText(offer: OfferDocument): string {
  const { maxAgeSeconds, maxBytes } = offer.retention;
  const age = maxAgeSeconds === 0 ? "no age limit" : span(maxAgeSeconds);
  return maxBytes === 0 ? age : `${age}, up to ${size(maxBytes)}`;
}

/** "free: 120 queries a minute (bursts of 200), 4 at once" */
export function freeTierText(offer: OfferDocument): string {
  if (offer.mode === "paid-only") return "none: paid only";
  const { queriesPerMinute, burst, maxConcurrent } = offer.free;
  return `${offer.mode}: ${queriesPerMinute} queries a minute (bursts of ${burst}), ${maxConcurrent} at once`;
}

/** "available 99.5%, complete 100%, 20 ms median (60 ms p99)" */
export function measuresText(q: NodeQuality): string {
  const parts = [
    q.availability === null ? "availability not measured" : `available ${pct(q.availability)}`,
    q.completeness === null ? "completeness not measured" : `complete ${pct(q.completeness)}`,
    q.latencyP50Ms === null ? "latency not measured" : `${Math.round(q.latencyP50Ms)} ms median${q.latencyP99Ms === null ? "" : ` (${Math.round(q.latencyP99Ms)} ms p99)`}`,
  ];
  if (q.droppedEarly > 0) parts.push(`${q.droppedEarly} message(s) dropped before the advertised retention`);
  return parts.join(", ");
}

/** "probe 0x12…ab, 6 Dec 2026, 17:00 – 6 Dec 2026, 18:00 (2 reports)" */
export function measuredByText(q: NodeQuality): string {
  const probes = q.probes.length === 1 ? `probe ${short(q.probes[0]!)}` : `${q.probes.length} probes (${q.probes.map(short).join(", ")})`;
  return `${probes}, ${date(new Date(q.period.from * 1000))} – ${date(new Date(q.period.to * 1000))} (${q.reports} report${q.reports === 1 ? "" : "s"})`;
}

/** The facts block of one server; undefined when neither offers nor probes are configured. */
export function serverFacts(server: Server, token: TokenInfo, quality: Quality | undefined): HTMLElement | undefined {
  if (server.ranking === undefined) return undefined;
  const rows: (HTMLElement | string)[] = [];
  const row = (term: string, cls: string, ...value: (Node | string)[]) => rows.push(h("dt", {}, term), h("dd", { class: cls }, ...value));

  const offer = server.offer;
  if (offer?.valid === true) {
    row("Keeps messages", "retention", retentionText(offer.offer));
    row("Free tier", "free-tier", freeTierText(offer.offer));
    row("Offer signed", "offer-signed", date(new Date(offer.offer.issuedAt * 1000)));
    for (const m of offer.mismatches) {
      const offered = m.offered === null ? "no price" : amount(BigInt(m.offered), token);
      rows.push(h("dd", { class: "offer-mismatch warn", "data-warning": "price-mismatch" }, `The offer says ${offered} a month; the registry's price, ${amount(BigInt(m.registry), token)}, is the one you pay.`));
    }
  } else if (offer?.valid === false) {
    row("Offer", "offer-refused invalid", `refused (${offer.reason}): ${offer.message}`);
  } else {
    row("Offer", "offer-missing", server.offerUnreadable !== undefined ? `could not be read: ${server.offerUnreadable}` : "not published");
  }

  if (server.quality !== undefined && server.quality !== null) {
    row("Measured", "measures", measuresText(server.quality));
    row("Measured by", "measured-by", measuredByText(server.quality));
  } else if (quality !== undefined) {
    row("Measured", "measures unmeasured", `no trusted probe measured it in the last ${span(quality.windowSeconds)}`);
  }

  const { rank, excluded, reasons } = server.ranking;
  return h(
    "div",
    { class: "facts" },
    h("dl", {}, ...rows),
    h(
      "details",
      { class: "rank" },
      h(
        "summary",
        {},
        h("span", { class: "rank-number" }, `Rank ${rank}`),
        excluded ? h("span", { class: "excluded" }, " · not recommended") : "",
        h("span", { class: "rank-why" }, ` · ${reasons[0] ?? ""}`),
      ),
      h("ul", { class: "reasons" }, ...reasons.map((r) => h("li", {}, r))),
    ),
  );
}

/** One line on the probes' reports: how many counted, which were refused and why, which URLs failed. */
export function qualitySummary(quality: Quality | undefined): HTMLElement | undefined {
  if (quality === undefined) return undefined;
  return h(
    "div",
    { class: "probe-summary", id: "probe-summary" },
    h("p", { class: "hint" }, `${quality.counted} probe report${quality.counted === 1 ? "" : "s"} from trusted probes counted.`),
    ...quality.refused.map((r) => h("p", { class: "refused-report", "data-warning": "report-refused" }, `A report from ${short(r.probe)} (${r.url}) was refused: ${r.reason}.`)),
    ...quality.failed.map((f) => h("p", { class: "invalid" }, `${f.url} gave no reports: ${f.error}`)),
  );
}

/**
 * Warnings on a subscription: it ends within `warnDays` days, and auto-renew (when on) would not
 * go through: the price rose above the maximum allowed, or the allowance or the balance does not
 * cover the next renewal (the SDK's renewal check, issue #22).
 */
export function subscriptionWarnings(sub: MySubscription, token: TokenInfo, warnDays: number, now = Date.now()): HTMLElement[] {
  const out: HTMLElement[] = [];
  const left = sub.expiresAt.getTime() - now;
  const autoRenew = sub.autoRenewMonths > 0n;
  if (sub.active && left <= warnDays * DAY * 1000) {
    const days = Math.max(0, Math.ceil(left / (DAY * 1000)));
    const when = days === 0 ? "today" : `in ${days} day${days === 1 ? "" : "s"}`;
    out.push(h("p", { class: "warn", "data-warning": "ending" }, `Ends ${when}. ${autoRenew ? "Auto-renew is on: check below that it will go through." : "Extend it, or turn auto-renew on, to keep your messages kept."}`));
  }
  if (!autoRenew) return out;
  const why: string[] = [];
  if (sub.server.pricePerMonth > sub.autoRenewMaxPrice) {
    why.push(`the price is now ${amount(sub.server.pricePerMonth, token)} a month, above the ${amount(sub.autoRenewMaxPrice, token)} you allowed`);
  }
  const covered = sub.renewal.renewalsCovered;
  if (sub.renewal.reason === "insufficient-allowance" || (sub.renewal.warning === "allowance-low" && covered === 0)) {
    why.push("the amount you approved for renewals does not cover the next one (turn auto-renew off and on to approve a year)");
  } else if (sub.renewal.reason === "insufficient-balance" || (sub.renewal.warning === "balance-low" && covered === 0)) {
    why.push(`your ${token.symbol} balance does not cover the next renewal`);
  }
  if (sub.renewal.reason === "node-not-trusted") why.push("the server is no longer trusted by the registry");
  if (sub.renewal.reason === "paused") why.push("the escrow is paused");
  if (why.length > 0) out.push(h("p", { class: "warn", "data-warning": "renewal-fails" }, `Auto-renew would fail: ${why.join("; ")}.`));
  return out;
}
