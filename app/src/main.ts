// The mail-server screen: list, pick, quote, pay in one signature, manage subscriptions.
import "./style.css";
import { TrustPolicy, type Quote } from "@status/mailserver-sdk";
import { DEFAULT_PAID_UNTIL_WARNING_DAYS, loadConfig, type AppConfig } from "./config.js";
import { qualitySummary, serverFacts, subscriptionWarnings } from "./details.js";
import { byId, fill, h } from "./dom.js";
import { amount, date, percent, plural, short } from "./format.js";
import * as api from "./mailservers.js";
import * as msg from "./messages.js";
import { readOffers, readQuality, type Quality } from "./quality.js";
import { findWallet, knownAccount, requestAccount, switchChain, walletChainId, type Wallet } from "./wallet.js";

const MIN_MONTHS = 1;
const MAX_MONTHS = 24;
const TRUSTED_KEY = "mailservers.trustedProviders";

interface State {
  config: AppConfig;
  reads: api.Reads;
  policy: TrustPolicy;
  wallet: Wallet | undefined;
  account: string | undefined;
  walletChain: number | undefined;
  balance: bigint | undefined;
  servers: api.Server[];
  /** The probes' reports as last read (undefined without report URLs or when they could not be read). */
  quality: Quality | undefined;
  selected: string | undefined;
  quote: api.QuoteView | undefined;
  subs: api.MySubscription[];
  busy: boolean;
}

let state: State;
const els = {
  wallet: byId("wallet"),
  notice: byId("notice"),
  servers: byId("servers"),
  form: byId<HTMLFormElement>("buy-form"),
  months: byId<HTMLInputElement>("months"),
  quote: byId("quote"),
  pay: byId<HTMLButtonElement>("pay"),
  tx: byId("tx"),
  subs: byId("subs"),
};

const token = () => state.config.token;
const chainOk = () => state.walletChain === state.config.chainId;

// ---------------------------------------------------------------------------------------------
// Notices and transaction status
// ---------------------------------------------------------------------------------------------

function notify(message: msg.Message | undefined, action?: { label: string; run: () => void }): void {
  if (message === undefined) return fill(els.notice);
  fill(
    els.notice,
    h("div", { class: `notice ${message.problem}`, "data-problem": message.problem }, h("p", {}, message.text), action && h("button", { type: "button", onclick: action.run }, action.label)),
  );
}

function showError(error: unknown): msg.Message {
  const message = msg.fromError(error, token(), state.config.rpcUrl);
  if (message.problem === "wrong-chain") notify(message, { label: `Switch to ${state.config.chainName}`, run: () => void doSwitch() });
  else notify(message);
  return message;
}

type TxStage = { stage: "signing"; label: string } | { stage: "pending"; label: string; hash: string } | { stage: "confirmed"; label: string; hash: string; detail: string };

function showTx(tx: TxStage | undefined): void {
  if (tx === undefined) return fill(els.tx);
  const text =
    tx.stage === "signing" ? `${tx.label}: confirm in your wallet…` : tx.stage === "pending" ? `${tx.label}: pending, waiting for the network to confirm.` : `${tx.label}: confirmed. ${tx.detail}`;
  fill(els.tx, h("div", { class: `tx ${tx.stage}`, "data-stage": tx.stage }, h("p", {}, text), "hash" in tx && h("p", { class: "hash" }, "Transaction ", h("code", {}, tx.hash))));
}

/** Runs one write: wallet checks first, then signing, pending and confirmed states; errors become notices. */
async function write<T>(label: string, run: (ctx: api.WriteContext) => Promise<T>, done: (result: T) => string): Promise<T | undefined> {
  if (state.busy) return undefined;
  notify(undefined);
  if (state.wallet === undefined) return void notify(msg.noWallet());
  if (state.account === undefined) {
    await doConnect();
    if (state.account === undefined) return undefined;
  }
  if (!chainOk()) {
    notify(msg.wrongChain(state.walletChain ?? 0, state.config.chainId, state.config.chainName), { label: `Switch to ${state.config.chainName}`, run: () => void doSwitch() });
    return undefined;
  }
  state.busy = true;
  renderBusy();
  let lastHash: string | undefined;
  showTx({ stage: "signing", label });
  try {
    const result = await run({
      wallet: state.wallet,
      config: state.config,
      account: state.account!,
      onSent: (hash) => {
        lastHash = hash;
        showTx({ stage: "pending", label, hash });
      },
    });
    showTx({ stage: "confirmed", label, hash: (result as { hash?: string }).hash ?? lastHash ?? "", detail: done(result) });
    return result;
  } catch (error) {
    showTx(undefined);
    showError(error);
    return undefined;
  } finally {
    state.busy = false;
    renderBusy();
    await refreshAccount();
  }
}

function renderBusy(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("main button[data-write]")) button.disabled = state.busy;
  renderPay();
}

// ---------------------------------------------------------------------------------------------
// Wallet
// ---------------------------------------------------------------------------------------------

function renderWallet(): void {
  if (state.wallet === undefined) {
    fill(els.wallet, h("p", { class: "wallet none" }, "No wallet"));
    return;
  }
  if (state.account === undefined) {
    fill(els.wallet, h("button", { type: "button", id: "connect", onclick: () => void doConnect() }, "Connect wallet"));
    return;
  }
  fill(
    els.wallet,
    h(
      "p",
      { class: "wallet" },
      h("span", { class: "account", title: state.account }, short(state.account)),
      " · ",
      h("span", { id: "balance" }, state.balance === undefined ? "…" : amount(state.balance, token())),
    ),
    !chainOk() && h("button", { type: "button", class: "switch", onclick: () => void doSwitch() }, `Switch to ${state.config.chainName}`),
  );
}

async function doConnect(): Promise<void> {
  if (state.wallet === undefined) return notify(msg.noWallet());
  try {
    state.account = await requestAccount(state.wallet);
    state.walletChain = await walletChainId(state.wallet);
  } catch (error) {
    showError(error);
  }
  await afterWalletChange();
}

async function doSwitch(): Promise<void> {
  if (state.wallet === undefined) return;
  try {
    await switchChain(state.wallet, state.config);
    state.walletChain = await walletChainId(state.wallet);
    notify(undefined);
  } catch (error) {
    showError(error);
  }
  await afterWalletChange();
}

async function afterWalletChange(): Promise<void> {
  renderWallet();
  if (state.account !== undefined && !chainOk()) {
    notify(msg.wrongChain(state.walletChain ?? 0, state.config.chainId, state.config.chainName), { label: `Switch to ${state.config.chainName}`, run: () => void doSwitch() });
  }
  await refreshAccount();
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

async function loadServers(): Promise<void> {
  els.servers.setAttribute("aria-busy", "true");
  try {
    const ids = await api.serverIds(state.reads);
    // Offers and the probes' reports are read beside each other; neither holds the list back on failure.
    const [offers, quality] = await Promise.all([
      state.config.offerUrls === undefined ? undefined : readOffers(state.config, ids),
      readQuality(state.reads, state.config).catch((error: unknown) => {
        notify({ problem: "failed", text: `The probes' reports could not be checked against the registry: ${error instanceof Error ? error.message : String(error)}` });
        return undefined;
      }),
    ]);
    state.quality = quality;
    state.servers = await api.listServers(state.reads, state.policy, ids, { offers, quality, ...(state.config.rank !== undefined ? { rank: state.config.rank } : {}) });
    if (state.selected === undefined || !state.servers.some((s) => s.nodeId === state.selected && s.verdict !== "untrusted")) {
      state.selected = state.servers.find((s) => s.verdict === "trusted")?.nodeId;
    }
    renderServers();
    await updateQuote();
  } catch (error) {
    showError(error);
    fill(els.servers, h("p", {}, "The servers could not be loaded. "), h("button", { type: "button", onclick: () => void loadServers() }, "Retry"));
  } finally {
    els.servers.setAttribute("aria-busy", "false");
  }
}

function serverName(server: api.Server): string {
  return `${server.providerName} · ${server.endpoint}`;
}

function renderServers(): void {
  const offered = state.servers.filter((s) => !s.removed);
  if (offered.length === 0) {
    fill(els.servers, h("p", {}, "No mail servers are registered yet."));
    return;
  }
  const items = offered.map((server, i) => {
    const id = `server-${i}`;
    const usable = server.verdict !== "untrusted";
    const trustable = server.reasons.length === 1 && server.reasons[0] === "provider-not-trusted";
    return h(
      "li",
      { class: `server ${server.verdict}`, "data-node-id": server.nodeId },
      h("input", {
        type: "radio",
        name: "server",
        id,
        value: server.nodeId,
        checked: server.nodeId === state.selected,
        disabled: !usable,
        "aria-describedby": `${id}-why`,
        onchange: () => {
          state.selected = server.nodeId;
          void updateQuote();
        },
      }),
      h(
        "label",
        { for: id },
        h("span", { class: "name" }, server.providerName, server.isDefaultProvider && h("span", { class: "badge" }, "default")),
        h("span", { class: "price" }, server.pricePerMonth === 0n ? "free" : `${amount(server.pricePerMonth, token())} / month`),
        h("span", { class: "endpoint" }, server.endpoint),
        h("span", { class: `verdict ${server.verdict}` }, server.verdict === "trusted" ? "Trusted" : server.verdict === "custom" ? "Custom" : "Not trusted"),
      ),
      h("p", { class: "why", id: `${id}-why` }, api.verdictReason(server)),
      serverFacts(server, token(), state.quality),
      trustable &&
        h(
          "button",
          {
            type: "button",
            class: "trust",
            onclick: () => {
              state.policy.trustProvider(server.provider);
              saveTrusted();
              void loadServers();
            },
          },
          `Trust ${server.providerName}`,
        ),
    );
  });
  fill(els.servers, qualitySummary(state.quality), h("fieldset", {}, h("legend", { class: "sr-only" }, "Mail servers"), h("ul", { class: "servers" }, ...items)));
}

function saveTrusted(): void {
  try {
    localStorage.setItem(TRUSTED_KEY, JSON.stringify(state.policy.trustedProviders()));
  } catch {
    // Private mode: the choice lasts for this visit.
  }
}

function loadTrusted(): string[] {
  try {
    const saved = JSON.parse(localStorage.getItem(TRUSTED_KEY) ?? "[]") as unknown;
    return Array.isArray(saved) ? saved.filter((p): p is string => typeof p === "string") : [];
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Quote and pay
// ---------------------------------------------------------------------------------------------

function monthsValue(input: HTMLInputElement): number | undefined {
  const value = Number(input.value);
  return Number.isInteger(value) && value >= MIN_MONTHS && value <= MAX_MONTHS ? value : undefined;
}

let quoteRun = 0;

async function updateQuote(): Promise<void> {
  const run = ++quoteRun;
  const months = monthsValue(els.months);
  const server = state.servers.find((s) => s.nodeId === state.selected);
  state.quote = undefined;
  renderPay();
  if (server === undefined) return fill(els.quote, h("p", { class: "hint" }, "Pick a trusted server above."));
  if (months === undefined) return fill(els.quote, h("p", { class: "invalid" }, `Choose between ${MIN_MONTHS} and ${MAX_MONTHS} months.`));
  fill(els.quote, h("p", { class: "hint" }, "Getting a quote…"));
  try {
    const quote = await api.quote(state.reads, server.nodeId, months, state.account);
    if (run !== quoteRun) return;
    state.quote = quote;
    renderQuote(server, quote);
  } catch (error) {
    if (run !== quoteRun) return;
    fill(els.quote, h("p", { class: "invalid" }, "No quote."));
    showError(error);
  }
  renderPay();
}

function renderQuote(server: api.Server, quote: api.QuoteView): void {
  const short = quote.balance !== undefined && quote.balance < quote.total;
  fill(
    els.quote,
    h(
      "dl",
      { class: "quote", "data-node-id": server.nodeId },
      h("dt", {}, "Server"),
      h("dd", {}, serverName(server)),
      h("dt", {}, "Total"),
      h("dd", { id: "quote-total" }, `${amount(quote.total, token())} for ${plural(quote.months, "month")} (${amount(quote.pricePerMonth, token())} a month)`),
      h("dt", {}, "Ends"),
      h("dd", { id: "quote-end" }, date(quote.expiresAt)),
      h("dt", {}, "Cancellation fee"),
      h("dd", { id: "quote-fee" }, quote.cancellationFeeBps === 0n ? "none: cancelling refunds all unserved time" : `${percent(quote.cancellationFeeBps)} of the unserved amount if you cancel (fixed at purchase)`),
      h("dt", {}, "Signatures"),
      h("dd", { id: "quote-signatures" }, quote.path === "approveAndCall" ? `${quote.signatures} (${token().symbol} approveAndCall pays in one transaction)` : String(quote.signatures)),
    ),
    short && h("p", { class: "invalid", id: "quote-short", "data-problem": "insufficient-balance" }, msg.insufficientBalance(quote.balance!, quote.total, token()).text),
    alreadySubscribed() && h("p", { class: "hint", id: "quote-subscribed" }, "You already subscribe to this server: extend it under Your subscriptions."),
  );
}

/** An active subscription of this account to the selected server: buy more through Extend instead. */
function alreadySubscribed(): boolean {
  return state.subs.some((sub) => sub.active && sub.server.nodeId === state.selected);
}

function renderPay(): void {
  const quote = state.quote;
  const short = quote?.balance !== undefined && quote.balance < quote.total;
  els.pay.disabled = state.busy || quote === undefined || short || alreadySubscribed();
  els.pay.textContent = quote === undefined ? "Pay" : `Pay ${amount(quote.total, token())}`;
}

async function pay(): Promise<void> {
  const quote = state.quote;
  const server = state.servers.find((s) => s.nodeId === state.selected);
  if (quote === undefined || server === undefined) return;
  const result = await write(
    `Paying ${server.providerName}`,
    (ctx) => api.buy(ctx, server.nodeId, Number(quote.months), quote, state.policy),
    (r) => `Paid ${amount(r.amount, token())}; active until ${date(r.expiresAt)}.`,
  );
  if (result === undefined) await loadServers(); // e.g. the price changed: show the new prices and quote
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

async function refreshAccount(): Promise<void> {
  renderWallet();
  if (state.account === undefined) return;
  try {
    [state.balance, state.subs] = await Promise.all([state.reads.subscriptions.balanceOf(state.account), api.mySubscriptions(state.reads, state.account, state.servers)]);
  } catch (error) {
    showError(error);
    renderWallet();
    return fill(els.subs, h("p", { class: "invalid" }, "Your subscriptions could not be loaded."));
  }
  renderWallet();
  renderSubs();
  if (state.quote !== undefined) await updateQuote(); // balance and "already subscribed" may have changed
}

function renderSubs(): void {
  if (state.account === undefined) return fill(els.subs, h("p", { class: "hint" }, "Connect your wallet to see them."));
  if (state.subs.length === 0) return fill(els.subs, h("p", { class: "hint" }, "None yet."));
  fill(els.subs, h("ul", { class: "subs" }, ...state.subs.map(renderSub)));
}

function renderSub(sub: api.MySubscription, index: number): HTMLElement {
  const id = `sub-${index}`;
  const panel = h("div", { class: "panel", id: `${id}-panel` });
  const extendMonths = h("input", { type: "number", id: `${id}-months`, min: MIN_MONTHS, max: MAX_MONTHS, value: 1, inputmode: "numeric" });
  const openPanel = (...children: (Node | false)[]) => {
    fill(panel, ...children);
    panel.querySelector<HTMLButtonElement>("button")?.focus();
  };
  const cancelButton = h("button", { type: "button", "data-write": true, class: "cancel", onclick: () => openCancel() }, "Cancel…");
  const openCancel = () =>
    openPanel(
      h("p", { class: "refund" }, `Cancelling now refunds ${amount(sub.refundableNow, token())}`, sub.fee > 0n ? ` (after a ${amount(sub.fee, token())} cancellation fee).` : ".", " Service stops at once."),
      h(
        "button",
        {
          type: "button",
          "data-write": true,
          class: "danger",
          onclick: () =>
            void write(
              `Cancelling ${sub.server.providerName}`,
              (ctx) => api.cancel(ctx, sub.server.nodeId, sub.record),
              (r) => `Refunded ${amount(r.refund, token())}${r.fee > 0n ? ` (fee ${amount(r.fee, token())})` : ""}.`,
            ),
        },
        "Cancel subscription",
      ),
      h("button", { type: "button", onclick: () => (fill(panel), cancelButton.focus()) }, "Keep it"),
    );
  const openExtend = async () => {
    const months = monthsValue(extendMonths);
    if (months === undefined) return openPanel(h("p", { class: "invalid" }, `Choose between ${MIN_MONTHS} and ${MAX_MONTHS} months.`));
    let quote: Quote;
    try {
      quote = await state.reads.subscriptions.quote(sub.server.nodeId, months);
    } catch (error) {
      return void showError(error);
    }
    const ends = new Date(Math.max(sub.expiresAt.getTime(), Date.now()) + months * 30 * 24 * 3600 * 1000);
    openPanel(
      h("p", {}, `${plural(months, "more month")} for ${amount(quote.total, token())} (${amount(quote.pricePerMonth, token())} a month); ends around ${date(ends)}.`),
      h(
        "button",
        {
          type: "button",
          "data-write": true,
          onclick: () =>
            void write(`Extending ${sub.server.providerName}`, (ctx) => api.extend(ctx, sub.server.nodeId, months, quote, sub.record), (r) => `Paid ${amount(r.amount, token())}; active until ${date(r.expiresAt)}.`),
        },
        `Pay ${amount(quote.total, token())}`,
      ),
      h("button", { type: "button", onclick: () => fill(panel) }, "Back"),
    );
  };
  const autoRenew = h("input", {
    type: "checkbox",
    role: "switch",
    id: `${id}-renew`,
    "data-write": true,
    checked: sub.autoRenewMonths > 0n,
    onchange: (event: Event) => {
      const on = (event.target as HTMLInputElement).checked;
      void write(
        on ? "Turning auto-renew on" : "Turning auto-renew off",
        (ctx) => api.setAutoRenew(ctx, sub.server.nodeId, on, sub.server.pricePerMonth, sub.record),
        () => (on ? `Renews monthly at up to ${amount(sub.server.pricePerMonth, token())} a month.` : "Auto-renew is off."),
      );
    },
  });
  const renewalState =
    sub.autoRenewMonths === 0n
      ? "off"
      : sub.renewal.renewable
        ? "on: renews now that it is due"
        : sub.renewal.reason === "outside-window"
          ? "on: renews in the 3 days before it ends"
          : `on, but it would not go through now (${sub.renewal.reason.replace(/-/g, " ")})`;
  // Warn while it still renews, not once it has lapsed; and say when turning it off stops being safe.
  const notes: string[] = [];
  if (sub.autoRenewMonths > 0n && sub.renewal.warning === "allowance-low") {
    notes.push(`approved for ${sub.renewal.renewalsCovered ?? 0} more renewal(s): turn auto-renew off and on again to approve a year more`);
  } else if (sub.autoRenewMonths > 0n && sub.renewal.warning === "balance-low") {
    notes.push(`your balance pays for ${sub.renewal.renewalsCovered ?? 0} more renewal(s): top up to keep renewing`);
  }
  if (sub.autoRenewMonths > 0n && sub.renewal.optOutSafeUntil !== undefined) {
    const safeUntil = new Date(Number(sub.renewal.optOutSafeUntil) * 1000);
    notes.push(
      safeUntil.getTime() > Date.now()
        ? `to stop it, turn it off before ${date(safeUntil)}: from then on anyone may renew first, and leaving costs the cancellation fee on the renewed month`
        : "turning it off now may come too late: anyone may renew first, and leaving then costs the cancellation fee on the renewed month",
    );
  }
  const renewal = notes.length === 0 ? renewalState : `${renewalState}. ${notes.join("; ")}.`;
  return h(
    "li",
    { class: `sub ${sub.active ? "active" : "expired"}`, "data-node-id": sub.server.nodeId },
    h("h3", {}, serverName(sub.server)),
    h(
      "dl",
      {},
      h("dt", {}, sub.active ? "Paid until" : "Expired on"),
      h("dd", { class: "until" }, date(sub.expiresAt)),
      h("dt", {}, "Months left"),
      h("dd", { class: "months-left" }, String(sub.monthsLeft)),
      h("dt", {}, "Refundable now"),
      h("dd", { class: "refundable" }, amount(sub.refundableNow, token())),
      h("dt", {}, "Auto-renew"),
      h("dd", { class: "renewal" }, renewal),
    ),
    ...subscriptionWarnings(sub, token(), state.config.paidUntilWarningDays ?? DEFAULT_PAID_UNTIL_WARNING_DAYS),
    sub.active &&
      h(
        "div",
        { class: "actions" },
        h("label", { for: `${id}-months` }, "Extend by (months)"),
        extendMonths,
        h("button", { type: "button", "data-write": true, onclick: () => void openExtend() }, "Extend…"),
        cancelButton,
        h("label", { class: "switch-label", for: `${id}-renew` }, autoRenew, " Auto-renew monthly"),
      ),
    panel,
  );
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

async function start(): Promise<void> {
  let config: AppConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    fill(els.servers, h("p", { class: "invalid" }, `This page is not configured: ${error instanceof Error ? error.message : String(error)}`));
    return;
  }
  state = {
    config,
    reads: api.connectReads(config),
    policy: new TrustPolicy({ providers: loadTrusted() }),
    wallet: findWallet(),
    account: undefined,
    walletChain: undefined,
    balance: undefined,
    servers: [],
    quality: undefined,
    selected: undefined,
    quote: undefined,
    subs: [],
    busy: false,
  };
  els.months.addEventListener("input", () => void updateQuote());
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    void pay();
  });

  if (state.wallet === undefined) notify(msg.noWallet());
  else {
    state.wallet.on?.("accountsChanged", (accounts) => {
      state.account = (accounts as string[])[0];
      void afterWalletChange();
    });
    state.wallet.on?.("chainChanged", (chainId) => {
      state.walletChain = Number(BigInt(chainId as string));
      if (chainOk()) notify(undefined);
      void afterWalletChange();
    });
    try {
      state.account = await knownAccount(state.wallet);
      state.walletChain = await walletChainId(state.wallet);
    } catch {
      // The wallet answers once the user connects.
    }
  }
  renderWallet();
  await loadServers();
  await afterWalletChange();
}

void start();
