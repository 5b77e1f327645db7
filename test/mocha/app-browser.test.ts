// The mail-server page in a real browser: headless Chromium (Debian's package) driven by
// playwright-core, the page as built and served by Vite (preview), a `hardhat node` with the real
// deployment, and an EIP-1193 wallet injected into the page that forwards to the node, whose
// unlocked hardhat account signs. Each step saves a screenshot under test-artifacts/app-browser/.
// Without a browser this fails: it never skips.
import { expect } from "chai";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { formatUnits, parseUnits } from "ethers";
import { network } from "hardhat";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ProviderClient, SubscriptionClient } from "@status/mailserver-sdk";
import { CHROMIUM, FLAGS, PHONE, WALLET_SCRIPT, walletHandler, type WalletState } from "../helpers/appBrowser.js";
import { ROOT, rpc, startHardhatNode, type LocalNode } from "../helpers/hardhatCli.js";
import { setupAppChain, type AppChain } from "../../scripts/app/chain.js";
import { startAppServer, type AppServer } from "../../scripts/app/serve.js";

const ARTIFACTS = path.join(ROOT, "test-artifacts", "app-browser");

describe("mail-server page in Chromium", function () {
  this.timeout(180_000);

  let node: LocalNode | undefined;
  let server: AppServer | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  let chain: AppChain;
  let wallet: WalletState;
  let subs: SubscriptionClient;
  let statusProvider: ProviderClient;
  let shot = 0;

  const screenshot = async (name: string, target: Page = page) => {
    shot++;
    await target.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
  };
  const serverItem = (nodeId: string) => page.locator(`li.server[data-node-id="${nodeId}"]`);
  const snt = (value: string) => parseUnits(value, 18);
  const shown = (value: bigint) => `${Number(formatUnits(value, 18)).toLocaleString("en-US", { maximumFractionDigits: 4 })} SNT`;

  before(async () => {
    // A CI run without a browser must fail here, loudly, rather than skip.
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM`);
    await rm(ARTIFACTS, { recursive: true, force: true }); // this run's screenshots only
    await mkdir(ARTIFACTS, { recursive: true });
    node = await startHardhatNode();
    const connection = await network.create({ network: "localhost", override: { url: node.url } });
    chain = await setupAppChain(connection, node.url);
    subs = new SubscriptionClient({ runner: connection.ethers.provider, addresses: chain.config.addresses });
    statusProvider = new ProviderClient({ runner: await connection.ethers.getSigner(chain.providers.status), addresses: chain.config.addresses });
    server = await startAppServer(chain.config, "preview");

    wallet = { account: chain.user, chainId: chain.config.chainId, connected: false, rejectNext: false, sent: [], switchRequests: 0 };
    profile = await mkdtemp(path.join(tmpdir(), "app-browser-profile-"));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: PHONE });
    await context.exposeBinding("__wallet", async (source, method: string, params: unknown[]) => walletRequest(source.page, method, params));
    await context.addInitScript(WALLET_SCRIPT);
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    await server?.close().catch(() => undefined);
    await node?.stop();
  });

  const walletRequest = (target: Page, method: string, params: unknown[]) => walletHandler(() => node!.url, wallet)(target, method, params);

  const [cheap, dear, acme] = [1, 0, 2].map((i) => () => chain.servers[i]!); // 20, 25 and 15 SNT a month

  it("lists the registry's mail servers with provider, price and verdict, the default provider first", async () => {
    await page.goto(server!.url);
    await page.locator("li.server").nth(2).waitFor();
    const order = await page.locator("li.server").evaluateAll((items) => items.map((li) => li.getAttribute("data-node-id")));
    expect(order).to.deep.equal([cheap().nodeId, dear().nodeId, acme().nodeId]);
    for (const [s, price, verdict] of [
      [cheap(), "20 SNT / month", "Trusted"],
      [dear(), "25 SNT / month", "Trusted"],
      [acme(), "15 SNT / month", "Not trusted"],
    ] as const) {
      expect(await serverItem(s.nodeId).locator(".price").textContent()).to.equal(price);
      expect(await serverItem(s.nodeId).locator(".verdict").textContent()).to.equal(verdict);
    }
    for (const s of [cheap(), dear()]) expect(await serverItem(s.nodeId).locator(".name").textContent()).to.equal("Statusdefault"); // name + badge
    expect(await serverItem(acme().nodeId).locator(".name").textContent()).to.equal("Acme Mail");
    expect(await serverItem(acme().nodeId).locator(".why").textContent()).to.match(/Acme Mail is approved by the registry, but not a provider you trust/);
    expect(await serverItem(acme().nodeId).locator("input[type=radio]").isDisabled()).to.equal(true);
    await screenshot("servers");
  });

  it("connects the wallet and, by keyboard, picks a server and 2 months: total, end date and cancellation fee before paying", async () => {
    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.locator("#balance", { hasText: "100 SNT" }).waitFor();
    // Keyboard only: the first trusted server is picked; the arrow key moves to the next one.
    await serverItem(cheap().nodeId).locator("input[type=radio]").focus();
    await page.keyboard.press("ArrowDown");
    expect(await serverItem(dear().nodeId).locator("input[type=radio]").isChecked()).to.equal(true);
    await page.locator("#months").focus();
    await page.keyboard.press("Control+A");
    await page.keyboard.type("2");
    await page.locator("#quote-total", { hasText: "50 SNT for 2 months (25 SNT a month)" }).waitFor();
    const quote = await subs.quote(dear().nodeId, 2);
    const end = await page.locator("#quote-end").textContent();
    expect(end).to.equal(await page.evaluate((ms) => new Date(ms).toLocaleString("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" }), quote.expiresAt.getTime()));
    expect(await page.locator("#quote-fee").textContent()).to.match(/^5% of the unserved amount/);
    expect(await page.locator("#quote-signatures").textContent()).to.match(/^1 \(SNT approveAndCall/);
    expect(await page.locator("#pay").textContent()).to.equal("Pay 50 SNT");
    await screenshot("quote-2-months");
  });

  it("pays with one signature (approveAndCall): pending with the transaction hash, then confirmed", async () => {
    await rpc(node!.url, "evm_setAutomine", [false]);
    try {
      await page.locator("#months").press("Enter"); // submits the form: pays
      await page.locator('[data-stage="pending"]').waitFor();
      expect(wallet.sent).to.have.length(1);
      expect(await page.locator('[data-stage="pending"] code').textContent()).to.equal(wallet.sent[0]);
      await screenshot("payment-pending");
      await rpc(node!.url, "evm_mine");
    } finally {
      await rpc(node!.url, "evm_setAutomine", [true]);
    }
    await page.locator('[data-stage="confirmed"]').waitFor();
    expect(await page.locator('[data-stage="confirmed"] code').textContent()).to.equal(wallet.sent[0]);
    expect(wallet.sent, "one signature in all").to.have.length(1);
    const state = await subs.status(dear().nodeId, chain.user);
    expect(state.active).to.equal(true);
    expect(await subs.balanceOf(chain.user)).to.equal(snt("50"));
    await page.locator("#balance", { hasText: "50 SNT" }).waitFor();
    await screenshot("payment-confirmed");
  });

  it("shows the subscription: active until, months left, refundable now, auto-renew", async () => {
    const item = page.locator(`li.sub[data-node-id="${dear().nodeId}"]`);
    await item.waitFor();
    const state = await subs.status(dear().nodeId, chain.user);
    expect(await item.locator(".months-left").textContent()).to.equal(String(state.monthsLeft));
    expect(state.monthsLeft).to.equal(2n);
    const until = await page.evaluate((ms) => new Date(ms).toLocaleString("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" }), state.expiresAt.getTime());
    expect(await item.locator(".until").textContent()).to.equal(until);
    const refundable = Number((await item.locator(".refundable").textContent())!.replace(/[^\d.]/g, ""));
    // (hardhat's chai matchers take closeTo/within for bigints: compare by hand)
    expect(Math.abs(refundable - Number(formatUnits(state.refundableNow, 18))), "as the escrow says").to.be.lessThan(0.01);
    expect(Math.abs(refundable - 47.5), "50 SNT less the 5% fee, a few seconds served").to.be.lessThan(0.05);
    expect(await item.locator(".renewal").textContent()).to.equal("off");
    await screenshot("subscription");
  });

  it("cancels, showing the refund first, and gets it back", async () => {
    const item = page.locator(`li.sub[data-node-id="${dear().nodeId}"]`);
    await item.getByRole("button", { name: "Cancel…" }).click();
    const offer = await item.locator(".refund").textContent();
    expect(offer).to.match(/^Cancelling now refunds [\d.]+ SNT \(after a [\d.]+ SNT cancellation fee\)/);
    await screenshot("cancel-refund-shown");
    const before = await subs.balanceOf(chain.user);
    await item.getByRole("button", { name: "Cancel subscription" }).click();
    await page.locator('[data-stage="confirmed"]', { hasText: "Refunded" }).waitFor();
    const refunded = (await subs.balanceOf(chain.user)) - before;
    expect(refunded > snt("47")).to.equal(true);
    expect(await page.locator('[data-stage="confirmed"]').textContent()).to.contain(`Refunded ${shown(refunded)}`);
    expect((await subs.status(dear().nodeId, chain.user)).active).to.equal(false);
    await page.locator("#subs", { hasText: "None yet." }).waitFor();
    expect(wallet.sent).to.have.length(2);
    await screenshot("cancelled");
  });

  it("says the balance is too low before anything is signed", async () => {
    await page.locator("#months").fill("24");
    await page.locator("#quote-short").waitFor();
    const balance = await subs.balanceOf(chain.user);
    expect(await page.locator("#quote-short").textContent()).to.equal(
      `Not enough SNT: the total is 600 SNT and your balance is ${shown(balance)}. Choose fewer months or top up.`,
    );
    expect(await page.locator("#pay").isDisabled()).to.equal(true);
    expect(wallet.sent).to.have.length(2);
    await screenshot("insufficient-balance");
  });

  it("refuses to pay a price raised since the quote, says so, and shows the new quote", async () => {
    await serverItem(cheap().nodeId).locator("input[type=radio]").check();
    await page.locator("#months").fill("1");
    await page.locator("#quote-total", { hasText: "20 SNT for 1 month" }).waitFor();
    await statusProvider.setNodePrice(cheap().nodeId, snt("22"));
    await page.locator("#pay").click();
    const notice = page.locator('[data-problem="price-changed"]');
    await notice.waitFor();
    expect(await notice.textContent()).to.contain("The price changed since your quote: 22 SNT a month instead of 20 SNT. Nothing was paid");
    expect(wallet.sent, "nothing was sent").to.have.length(2);
    await page.locator("#quote-total", { hasText: "22 SNT for 1 month" }).waitFor();
    await serverItem(cheap().nodeId).locator(".price", { hasText: "22 SNT / month" }).waitFor(); // the list is re-read too
    await screenshot("price-changed");
  });

  it("says so when the signature is declined in the wallet (EIP-1193 4001)", async () => {
    wallet.rejectNext = true;
    await page.locator("#pay").click();
    await page.locator('[data-problem="rejected"]').waitFor();
    expect(await page.locator('[data-problem="rejected"]').textContent()).to.contain("You declined the request in your wallet. Nothing was sent.");
    expect(wallet.sent).to.have.length(2);
    expect((await subs.status(cheap().nodeId, chain.user)).active).to.equal(false);
    await screenshot("rejected");
  });

  it("spots a wallet on the wrong chain and switches it (wallet_switchEthereumChain)", async () => {
    wallet.chainId = 1;
    await page.evaluate(() => (globalThis as unknown as { ethereum: { __emit(e: string, p: string): void } }).ethereum.__emit("chainChanged", "0x1"));
    const notice = page.locator('[data-problem="wrong-chain"]');
    await notice.waitFor();
    expect(await notice.textContent()).to.contain("Your wallet is on chain 1; these servers are paid for on Hardhat (local) (chain 31337)");
    await page.locator("#pay").click(); // still refused, nothing sent
    expect(wallet.sent).to.have.length(2);
    await screenshot("wrong-chain");
    await notice.getByRole("button", { name: "Switch to Hardhat (local)" }).click();
    await notice.waitFor({ state: "detached" });
    expect(wallet.switchRequests).to.equal(1);
    expect(wallet.chainId).to.equal(chain.config.chainId);
  });

  it("buys, extends, and turns auto-renew on and off", async () => {
    await page.locator("#quote-total", { hasText: "22 SNT for 1 month" }).waitFor();
    await page.locator("#pay").click();
    await page.locator('[data-stage="confirmed"]', { hasText: "Paid 22 SNT" }).waitFor();
    const item = page.locator(`li.sub[data-node-id="${cheap().nodeId}"]`);
    await item.waitFor();
    const before = await subs.status(cheap().nodeId, chain.user);

    await item.getByRole("button", { name: "Extend…" }).click();
    await item.getByRole("button", { name: "Pay 22 SNT" }).click();
    await page.locator('[data-stage="confirmed"]', { hasText: "Extending" }).waitFor();
    const extended = await subs.status(cheap().nodeId, chain.user);
    expect(extended.expiresAtSeconds - before.expiresAtSeconds).to.equal(30n * 24n * 3600n);
    await item.locator(".months-left", { hasText: "2" }).waitFor();
    await screenshot("extended");

    await item.getByRole("switch").check();
    await page.locator('[data-stage="confirmed"]', { hasText: "Renews monthly at up to 22 SNT a month." }).waitFor();
    expect((await subs.getSubscription(cheap().nodeId, chain.user))!.renewMonths).to.equal(1n);
    // A year of renewals is approved, and the page says until when turning it off is safe.
    expect(await subs.allowance(chain.user)).to.equal(12n * snt("22"));
    await item.locator(".renewal", { hasText: "on: renews in the 3 days before it ends" }).waitFor();
    await item.locator(".renewal", { hasText: "to stop it, turn it off before" }).waitFor();
    // Subscribed already: the page offers Extend, not a second purchase.
    await page.locator("#quote-subscribed").waitFor();
    expect(await page.locator("#pay").isDisabled()).to.equal(true);
    await screenshot("auto-renew-on");
    await page.locator(`li.sub[data-node-id="${cheap().nodeId}"]`).getByRole("switch").uncheck();
    await page.locator('[data-stage="confirmed"]', { hasText: "Auto-renew is off." }).waitFor();
    expect((await subs.getSubscription(cheap().nodeId, chain.user))!.renewMonths).to.equal(0n);
    expect(await subs.allowance(chain.user)).to.equal(0n);
  });

  it("still lists the servers without a wallet, and says a wallet is needed to pay", async () => {
    const bare = await context!.newPage();
    try {
      await bare.goto(`${server!.url}?nowallet`);
      await bare.locator('[data-problem="no-wallet"]').waitFor();
      await bare.locator("li.server").nth(2).waitFor();
      expect(await bare.locator("#wallet").textContent()).to.equal("No wallet");
      await screenshot("no-wallet", bare);
    } finally {
      await bare.close();
    }
  });

  it("says the network cannot be reached when the RPC is down, and recovers on retry", async () => {
    const down = (url: URL) => url.href.startsWith(node!.url);
    await page.route(down, (route) => route.abort("connectionrefused"));
    try {
      await page.reload();
      const notice = page.locator('[data-problem="rpc-down"]');
      await notice.waitFor({ timeout: 30_000 });
      expect(await notice.textContent()).to.contain(`The network cannot be reached (${node!.url})`);
      await screenshot("rpc-down");
    } finally {
      await page.unroute(down);
    }
    await page.locator("#servers").getByRole("button", { name: "Retry" }).click();
    await page.locator("li.server").nth(2).waitFor();
  });
});
