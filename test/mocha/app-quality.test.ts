// The page shows what a user choosing a mail server needs to know (issue 23, part 3), in real
// Chromium: a real mail server on loopback serving its signed offer over HTTP, a forged offer for
// another registered server, and signed probe reports served over HTTP by a probe registered in
// the registry as a node of kind "probe", beside two forged reports (an unregistered probe, and
// the registered probe's id under another key) that must not count. Then "paid until" and its
// warnings on a subscription whose auto-renew would fail.
import { expect } from "chai";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet, parseUnits } from "ethers";
import { network } from "hardhat";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import {
  CuratorClient,
  PROBE_KIND_NAME,
  ProviderClient,
  SubscriptionClient,
  fetchOfferHttp,
  signOffer,
  signProbeReport,
  type NodeMeasure,
  type SignedOffer,
  type SignedProbeReport,
} from "@status/mailserver-sdk";
import { parseConfig, silentLogger, startServer } from "@status/mailserver-node";
import { CHROMIUM, FLAGS, PHONE, WALLET_SCRIPT, walletHandler, type WalletState } from "../helpers/appBrowser.js";
import { ROOT, startHardhatNode, type LocalNode } from "../helpers/hardhatCli.js";
import { setupAppChain, type AppChain } from "../../scripts/app/chain.js";
import { startAppServer, type AppServer } from "../../scripts/app/serve.js";

const ARTIFACTS = path.join(ROOT, "test-artifacts", "app-quality");
const snt = (value: string) => parseUnits(value, 18);

/** A loopback HTTP server answering `routes[path]` as JSON, readable from any origin (as the real endpoints are). */
async function jsonServer(routes: Record<string, () => unknown>): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    const route = routes[(request.url ?? "").split("?")[0]!];
    if (route === undefined) return void response.writeHead(404, { "access-control-allow-origin": "*" }).end();
    const body = JSON.stringify(route());
    response.writeHead(200, { "access-control-allow-origin": "*", "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function measure(nodeId: string, m: { up: number; found: number; p50: number; p99: number }): NodeMeasure {
  return {
    nodeId,
    availability: { attempts: 10, successes: m.up },
    latencyMs: { samples: 10, p50: m.p50, p99: m.p99 },
    completeness: { markers: 20, found: m.found, medianDelayMs: m.found > 0 ? 800 : null },
    retention: { checked: 5, droppedEarly: 0, keptPastAdvertised: 0 },
  };
}

describe("mail-server page in Chromium: offers, probes' measures, rank and paid-until warnings", function () {
  this.timeout(180_000);

  let node: LocalNode | undefined;
  let app: AppServer | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  let chain: AppChain;
  let wallet: WalletState;
  let mailServer: { offerUrl?: string; stop(): Promise<void> } | undefined;
  const http: Server[] = [];
  let probeId: string;
  let offer: SignedOffer;
  let period: { from: number; to: number };
  let statusProvider: ProviderClient;
  let userSubs: SubscriptionClient;
  let userToken: { balanceOf(a: string): Promise<bigint>; transfer(to: string, amount: bigint): Promise<{ wait(): Promise<unknown> }> };
  let deadUrl: string;

  const [cheap, dear, acme] = [1, 0, 2].map((i) => () => chain.servers[i]!); // 20, 25 and 15 SNT a month
  const serverItem = (nodeId: string) => page.locator(`li.server[data-node-id="${nodeId}"]`);
  const shownDate = (seconds: number) =>
    page.evaluate((ms) => new Date(ms).toLocaleString("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" }), seconds * 1000);
  const screenshot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM`);
    await rm(ARTIFACTS, { recursive: true, force: true });
    await mkdir(ARTIFACTS, { recursive: true });
    node = await startHardhatNode();
    const connection = await network.create({ network: "localhost", override: { url: node.url } });
    chain = await setupAppChain(connection, node.url);
    const { addresses, chainId } = chain.config;
    const status = await connection.ethers.getSigner(chain.providers.status);
    statusProvider = new ProviderClient({ runner: status, addresses });
    const user = await connection.ethers.getSigner(chain.user);
    userSubs = new SubscriptionClient({ runner: user, addresses });
    userToken = (await connection.ethers.getContractAt("SNTLikeToken", addresses.token, user)) as unknown as typeof userToken;

    // The probe: a node of kind "probe", enabled by the curator and added by the default provider.
    await new CuratorClient({ runner: status, addresses }).setKindEnabled(PROBE_KIND_NAME, true);
    const probeKey = Wallet.createRandom().privateKey;
    probeId = (await statusProvider.addNode({ nodeKey: probeKey, kind: PROBE_KIND_NAME, record: "/ip4/127.0.0.1/tcp/8090", pricePerMonth: 0 })).nodeId;

    // The real mail server behind the registered id of "cheap", serving its signed offer over HTTP.
    mailServer = await startServer(
      parseConfig(
        {
          nodeKeyFile: "unused",
          mode: "free",
          chainId,
          registry: addresses.registry,
          escrow: addresses.escrow,
          listen: ["/ip4/127.0.0.1/tcp/0/ws"],
          clusterId: 16,
          shards: [32],
          archive: { backend: "sqlite", path: ":memory:" },
          relay: { enabled: false },
          retention: { maxAgeSeconds: 30 * 86_400 },
          offer: { contact: "ops@status.example", http: { host: "127.0.0.1", port: 0 } },
        },
        "/",
      ),
      silentLogger,
      { privateKey: Buffer.from(cheap().nodeKey.slice(2), "hex") },
    );
    offer = await fetchOfferHttp(mailServer.offerUrl!);

    // A forged offer for "dear": another key's signature over a document naming dear's node id.
    const forgedSigned = await signOffer(`0x${randomBytes(32).toString("hex")}`, { ...offer.offer, pricePerMonth: "1" });
    const forgedOffer = { offer: { ...forgedSigned.offer, nodeId: dear().nodeId }, signature: forgedSigned.signature };

    // Reports: one genuine (every server measured; acme loses messages), two forged.
    const now = Math.floor(Date.now() / 1000);
    period = { from: now - 3600, to: now - 60 };
    const fields = (nodes: NodeMeasure[]) => ({ chainId, registry: addresses.registry, periodStart: period.from, periodEnd: period.to, issuedAt: now - 30, nodes });
    const genuine = await signProbeReport(probeKey, fields([
      measure(cheap().nodeId, { up: 10, found: 20, p50: 25, p99: 80 }),
      measure(dear().nodeId, { up: 10, found: 19, p50: 40, p99: 120 }),
      measure(acme().nodeId, { up: 10, found: 5, p50: 30, p99: 90 }),
    ]));
    const slander = fields([measure(cheap().nodeId, { up: 0, found: 0, p50: 5000, p99: 9000 })]);
    const unregistered = await signProbeReport(`0x${randomBytes(32).toString("hex")}`, slander);
    const impostorSigned = await signProbeReport(`0x${randomBytes(32).toString("hex")}`, slander);
    const impostor: SignedProbeReport = { report: { ...impostorSigned.report, probeNodeId: probeId }, signature: impostorSigned.signature };
    const served = await jsonServer({ "/reports": () => ({ reports: [genuine, unregistered, impostor] }), "/offer": () => forgedOffer });
    http.push(served.server);

    // A URL where nothing answers, for acme's offer and as a second report source: both are reported, nothing else changes.
    const closed = await jsonServer({});
    await new Promise((resolve) => closed.server.close(resolve));
    deadUrl = closed.url;
    app = await startAppServer(
      {
        ...chain.config,
        offerUrls: { [cheap().nodeId]: mailServer.offerUrl!, [dear().nodeId]: `${served.url}/offer`, [acme().nodeId]: `${deadUrl}/offer` },
        quality: { reportUrls: [`${served.url}/reports`, `${deadUrl}/reports`] },
        paidUntilWarningDays: 35,
        fetchTimeoutMs: 3000,
      },
      "preview",
    );
    wallet = { account: chain.user, chainId: chain.config.chainId, connected: false, rejectNext: false, sent: [], switchRequests: 0 };
    profile = await mkdtemp(path.join(tmpdir(), "app-quality-profile-"));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: PHONE });
    await context.exposeBinding("__wallet", async (source, method: string, params: unknown[]) => walletHandler(() => node!.url, wallet)(source.page, method, params));
    await context.addInitScript(WALLET_SCRIPT);
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    await app?.close().catch(() => undefined);
    await mailServer?.stop().catch(() => undefined);
    for (const server of http) await new Promise((resolve) => server.close(resolve));
    await node?.stop();
  });

  it("shows each server's retention, free tier, offer signing time, measures with the probe and period, and its rank with reasons", async () => {
    await page.goto(app!.url);
    await page.locator("li.server .facts").nth(2).waitFor();
    const order = await page.locator("li.server").evaluateAll((items) => items.map((li) => li.getAttribute("data-node-id")));
    expect(order, "measured good and fastest for the probes first; the untrusted, lossy one last").to.deep.equal([cheap().nodeId, dear().nodeId, acme().nodeId]);

    const good = serverItem(cheap().nodeId);
    expect(offer.offer.retention.maxAgeSeconds).to.equal(30 * 86_400);
    const bytes = offer.offer.retention.maxBytes;
    expect(await good.locator(".retention").textContent()).to.equal(bytes === 0 ? "30 days" : `30 days, up to ${(bytes / 2 ** 30).toLocaleString("en-US", { maximumFractionDigits: 1 })} GiB`);
    const free = offer.offer.free;
    expect(await good.locator(".free-tier").textContent()).to.equal(`free: ${free.queriesPerMinute} queries a minute (bursts of ${free.burst}), ${free.maxConcurrent} at once`);
    expect(await good.locator(".offer-signed").textContent()).to.equal(await shownDate(offer.offer.issuedAt));
    // A free node offers 0; the registry says 20 SNT: the registry's price is the one paid.
    expect(await good.locator('[data-warning="price-mismatch"]').textContent()).to.equal("The offer says 0 SNT a month; the registry's price, 20 SNT, is the one you pay.");
    expect(await good.locator(".measures").textContent()).to.equal("available 100%, complete 100%, 25 ms median (80 ms p99)");
    expect(await good.locator(".measured-by").textContent()).to.equal(
      `probe ${probeId.slice(0, 6)}…${probeId.slice(-4)}, ${await shownDate(period.from)} – ${await shownDate(period.to)} (1 report)`,
    );
    expect(await good.locator(".rank-number").textContent()).to.equal("Rank 1");
    const reasons = await good.locator("ul.reasons li").allTextContents();
    expect(reasons[0]).to.equal("measured good: above every floor");
    expect(reasons).to.include("available 100% of the time (1 probe; floor 90%)");
    expect(reasons).to.include("its offer says 0 a month, the registry 20000000000000000000: the registry's price applies");

    // The forged offer is refused, and says why; the server still ranks on its measures.
    const forged = serverItem(dear().nodeId);
    expect(await forged.locator(".offer-refused").textContent()).to.match(/^refused \(bad-signature\): signed by 0x[0-9a-fA-F]{40}, not by the key of node /);
    expect(await forged.locator(".measures").textContent()).to.equal("available 100%, complete 95%, 40 ms median (120 ms p99)");
    expect(await forged.locator("ul.reasons li").allTextContents()).to.include.members([`its offer was refused: bad-signature: ${(await forged.locator(".offer-refused").textContent())!.replace(/^refused \(bad-signature\): /, "")}`]);

    const lossy = serverItem(acme().nodeId);
    expect(await lossy.locator(".rank-number").textContent()).to.equal("Rank 3");
    expect(await lossy.locator(".excluded").textContent()).to.equal(" · not recommended");
    expect(await lossy.locator(".measures").textContent()).to.equal("available 100%, complete 25%, 30 ms median (90 ms p99)");
    expect(await lossy.locator(".offer-missing").textContent()).to.equal("could not be read: cannot fetch the mail server's offer");

    // The forged reports did not count: one report counted, two refused with their reasons.
    expect(await page.locator("#probe-summary .hint").textContent()).to.equal("1 probe report from trusted probes counted.");
    const refused = await page.locator('[data-warning="report-refused"]').allTextContents();
    expect(refused).to.have.length(2);
    expect(refused.some((r) => r.includes("untrusted-probe"))).to.equal(true);
    expect(refused.some((r) => r.includes("bad-signature"))).to.equal(true);
    expect(await page.locator("#probe-summary .invalid").textContent()).to.equal(`${deadUrl}/reports gave no reports: cannot fetch the probe's reports`);
    await screenshot("01-servers-ranked");
  });

  it('"paid until" stands out, with a warning before the end and when auto-renew would fail (allowance, price, balance)', async () => {
    // Bought 1 month and opted in to auto-renew without approving anything: the next renewal cannot go through.
    await userSubs.subscribe({ nodeId: cheap().nodeId, months: 1 });
    await userSubs.setAutoRenew(cheap().nodeId, chain.user, { months: 1, maxPricePerMonth: snt("20"), approve: false });
    const state = await userSubs.status(cheap().nodeId, chain.user);
    await page.reload();
    await page.getByRole("button", { name: "Connect wallet" }).click();
    const sub = page.locator(`li.sub[data-node-id="${cheap().nodeId}"]`);
    await sub.waitFor();
    expect(await sub.locator("dt").first().textContent()).to.equal("Paid until");
    expect(await sub.locator(".until").textContent()).to.equal(await shownDate(Number(state.expiresAtSeconds)));
    expect(await sub.locator(".until").evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { fontWeight: string } }).getComputedStyle(el).fontWeight)).to.equal("700");
    // A month left (the escrow ends periods on day boundaries), inside the configured 35-day warning.
    const daysLeft = Math.ceil((Number(state.expiresAtSeconds) * 1000 - Date.now()) / 86_400_000);
    expect(daysLeft).to.be.within(30, 31);
    expect(await sub.locator('[data-warning="ending"]').textContent()).to.equal(`Ends in ${daysLeft} days. Auto-renew is on: check below that it will go through.`);
    expect(await sub.locator('[data-warning="renewal-fails"]').textContent()).to.equal(
      "Auto-renew would fail: the amount you approved for renewals does not cover the next one (turn auto-renew off and on to approve a year).",
    );
    await screenshot("02-paid-until-warnings");

    // The provider raises the price above the maximum the user allowed.
    await statusProvider.setNodePrice(cheap().nodeId, snt("22"));
    await page.reload();
    await sub.locator('[data-warning="renewal-fails"]', { hasText: "the price is now 22 SNT a month, above the 20 SNT you allowed" }).waitFor();
    await screenshot("03-price-raised");

    // The price back, a year of renewals approved, but the balance spent elsewhere: the balance warning.
    await statusProvider.setNodePrice(cheap().nodeId, snt("20"));
    await userSubs.setAutoRenew(cheap().nodeId, chain.user, { months: 1, maxPricePerMonth: snt("20"), approve: true });
    await (await userToken.transfer(chain.providers.acme, (await userToken.balanceOf(chain.user)) - snt("5"))).wait();
    await page.reload();
    await sub.locator('[data-warning="renewal-fails"]', { hasText: "your SNT balance does not cover the next renewal" }).waitFor();
    expect(await sub.locator('[data-warning="renewal-fails"]').textContent()).to.equal("Auto-renew would fail: your SNT balance does not cover the next renewal.");
    await screenshot("04-balance-low");
  });

  it("a config.json whose probe settings are not what the page needs says so instead of listing", async () => {
    const bad = await startAppServer({ ...chain.config, quality: { reportUrls: "http://probe.example/reports" as never } }, "dev");
    try {
      await page.goto(bad.url);
      await page.locator("#servers", { hasText: "This page is not configured" }).waitFor();
      expect(await page.locator("#servers").textContent()).to.equal('This page is not configured: config.json: "quality.reportUrls" must be a list of URLs');
    } finally {
      await bad.close();
    }
  });
});
