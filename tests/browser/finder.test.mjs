// The plan finder page and the embeddable widget in a real browser: headless
// Debian Chromium driven by Playwright. Starts the real binary (demo catalog,
// and a second instance on a hostile feed), a host page on another origin,
// and saves screenshots to ./artifacts.
//
//   cargo build && (cd tests/browser && npm ci && npm test)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const bin = process.env.CMG_BIN || path.join(root, "target/debug/cmg-feed-proxy");
const artifacts = path.join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });

const children = [];
const servers = [];
let browser;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startProxy(env) {
  const port = await freePort();
  const child = spawn(bin, [], {
    env: { PATH: process.env.PATH, LISTEN_ADDR: `127.0.0.1:${port}`, RUST_LOG: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return base;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`proxy on ${base} not ready`);
}

async function serve(handler) {
  const port = await freePort();
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  servers.push(server);
  return `http://127.0.0.1:${port}`;
}

let demo;
before(async () => {
  assert.ok(spawnSync(bin, ["--version"]).status === 0, `build the binary first: ${bin}`);
  demo = await startProxy({ DEMO: "1" });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  for (const child of children) child.kill("SIGTERM");
  for (const server of servers) server.close();
});

async function newPage(width = 1200, locale = "en-US") {
  const page = await browser.newPage({ viewport: { width, height: 900 }, locale });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Content-Security-Policy violations and failed requests show up here.
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  page.on("dialog", (d) => {
    errors.push(`dialog: ${d.message()}`);
    d.dismiss();
  });
  return { page, errors };
}

/** Prices shown on the cards, in order. */
async function prices(page) {
  const texts = await page.locator(".card .price").allTextContents();
  return texts.map((t) => Number(t.replace("$", "")));
}

/**
 * Waits until the status line shows a loaded result ("N plans ...", not
 * "Loading") whose N is `exactly` or `below` the given number; returns N.
 */
async function settledTotal(page, { exactly, below }) {
  const handle = await page.waitForFunction(({ exactly, below }) => {
    const text = document.querySelector(".cmg-plan-finder").shadowRoot.querySelector("p.status").textContent;
    const m = /^(\d+) plans/.exec(text);
    if (!m) return null;
    const n = Number(m[1]);
    return (exactly === undefined || n === exactly) && (below === undefined || n < below) ? n : null;
  }, { exactly, below });
  return handle.jsonValue();
}

async function pickCountry(page, typed, code) {
  const input = page.getByLabel("Destination");
  await input.fill(typed);
  await page.locator(`ul.suggest li[data-code="${code}"]`).waitFor();
  await input.press("ArrowDown");
  await input.press("Enter");
}

test("the page loads on the demo catalog and shows its freshness", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${demo}/`);
  await page.locator(".card").first().waitFor();
  const status = await page.locator("p.status").textContent();
  assert.match(status, /^\d+ plans .* updated just now/);
  assert.equal(await page.locator(".stale").isVisible(), false);
  await page.screenshot({ path: path.join(artifacts, "finder-desktop.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("picking Germany lists German plans sorted by price, and a filter narrows them", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${demo}/`);
  await page.locator(".card").first().waitFor();
  await pickCountry(page, "Germ", "DE");
  await page.locator(".chip", { hasText: "Germany" }).waitFor();
  const all = await page.evaluate(async (base) => (await (await fetch(`${base}/plans?country=DE&limit=500`)).json()).total, demo);
  // Until the German list is in, the status shows "Loading" or the whole catalog.
  assert.equal(await settledTotal(page, { exactly: all }), all);
  const shown = await prices(page);
  assert.ok(shown.length > 0);
  assert.deepEqual(shown, [...shown].sort((a, b) => a - b), "sorted by price");
  const expected = await page.evaluate(async (base) =>
    (await (await fetch(`${base}/plans?country=DE&sort=price&limit=12`)).json()).plans.map((p) => p.name), demo);
  assert.deepEqual(await page.locator(".card h3").allTextContents(), expected, "the German plans, cheapest first");

  await page.getByLabel("Min data (GB)").fill("10");
  await page.getByLabel("Min data (GB)").press("Tab");
  const narrowed = await settledTotal(page, { below: all });
  assert.ok(narrowed > 0 && narrowed < all, String(narrowed));
  const data = await page.locator(".card .meta").filter({ hasText: "days" }).allTextContents();
  assert.ok(data.every((d) => d.startsWith("Unlimited") === false && parseFloat(d) >= 10), data.join(" | "));
  await page.screenshot({ path: path.join(artifacts, "finder-germany-10gb.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("the widget embedded on another origin works through CORS and its Buy links carry the ref", async () => {
  const host = await serve((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><html><body><h1>Acme Travel</h1>
      <script src="${demo}/widget.js" data-ref="acme-01" data-country="FR"></script></body></html>`);
  });
  assert.notEqual(new URL(host).origin, new URL(demo).origin);
  const { page, errors } = await newPage(390);
  await page.goto(host);
  await page.locator(".card").first().waitFor();
  const links = page.locator("a.buy");
  const count = await links.count();
  assert.ok(count > 0);
  for (let i = 0; i < count; i++) {
    const a = links.nth(i);
    const href = new URL(await a.getAttribute("href"));
    assert.equal(href.searchParams.getAll("ref").join(), "acme-01");
    assert.equal(await a.getAttribute("target"), "_blank");
    assert.match(await a.getAttribute("rel"), /noopener/);
  }
  const expected = await page.evaluate(async (base) =>
    (await (await fetch(`${base}/plans?country=FR&limit=12`)).json()).plans.map((p) => p.name), demo);
  assert.deepEqual(await page.locator(".card h3").allTextContents(), expected, "French plans via CORS");
  await page.screenshot({ path: path.join(artifacts, "widget-embedded-phone.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("feed text is shown as text, never parsed as HTML", async () => {
  const evil = "<img src=x onerror=alert(1)>";
  const feed = JSON.stringify({
    success: true,
    aggregator: "test",
    plans: [{
      name: evil, packageCode: "XSS-1", productUrl: "https://example.com/p", dataAmount: 1,
      duration: 7, locationCodes: ["DE"], locationNames: ["<b>Germany</b>"], operator: evil,
      speed: "4G", retailPrice: 1.5,
    }],
  });
  const upstream = await serve((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(feed);
  });
  const base = await startProxy({ CMG_API_KEY: "browser-test-key", CMG_FEED_URL: `${upstream}/feed` });
  const { page, errors } = await newPage();
  await page.goto(`${base}/`);
  await page.locator(".card").first().waitFor();
  assert.equal(await page.locator(".card h3").first().textContent(), evil);
  assert.equal(await page.locator(".card img").count(), 0);
  assert.equal(await page.locator(".card b").count(), 0);
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(artifacts, "finder-hostile-feed.png") });
  assert.deepEqual(errors, [], "no script ran");
});

test("the destination picker works from the keyboard", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${demo}/?ref=globex`);
  await page.locator(".card").first().waitFor();
  const input = page.getByLabel("Destination");
  await input.focus();
  await page.keyboard.type("jap");
  await page.keyboard.press("ArrowDown");
  assert.equal(await input.getAttribute("aria-expanded"), "true");
  await page.keyboard.press("Enter");
  await page.locator(".chip", { hasText: "Japan" }).waitFor();
  await page.waitForTimeout(300);
  const href = await page.locator("a.buy").first().getAttribute("href");
  assert.equal(new URL(href).searchParams.get("ref"), "globex", "the page passes ?ref= through");
  assert.deepEqual(errors, []);
});

test("trip mode quotes an itinerary with legs and Buy links that carry the ref", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${demo}/?ref=trip-ref`);
  await page.locator(".card").first().waitFor();
  await page.getByRole("tab", { name: "Trip" }).click();
  const countries = page.locator("select.stop-country");
  await page.waitForFunction(() =>
    document.querySelector(".cmg-plan-finder").shadowRoot.querySelector("select.stop-country").options.length > 10);
  await countries.nth(0).selectOption("US");
  await countries.nth(1).selectOption("MX");
  await page.locator("input.stop-days").nth(0).fill("7");
  await page.locator("input.stop-days").nth(1).fill("7");
  await page.getByLabel("Data per day (GB)").fill("0");
  await page.getByRole("button", { name: "Find trip options" }).click();
  await page.locator(".option").first().waitFor();
  const expected = await page.evaluate(async (base) =>
    (await (await fetch(`${base}/trips?stops=US:7,MX:7&gb_per_day=0&max_esims=2&ref=trip-ref`)).json()), demo);
  assert.ok(expected.options.length > 0);
  assert.equal(await page.locator(".option").count(), expected.options.length);
  const heading = await page.locator(".option h3").first().textContent();
  assert.ok(heading.includes(`$${expected.options[0].totalPrice.toFixed(2)}`), heading);
  const links = page.locator(".option a.buy");
  const count = await links.count();
  assert.equal(count, expected.options.reduce((n, o) => n + o.legs.length, 0));
  for (let i = 0; i < count; i++) {
    const href = new URL(await links.nth(i).getAttribute("href"));
    assert.equal(href.searchParams.get("ref"), "trip-ref");
  }
  await page.screenshot({ path: path.join(artifacts, "finder-trip.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("a Buy link goes through /go and lands on the plan's productUrl with the ref", async () => {
  const landed = [];
  const shop = await serve((req, res) => {
    landed.push(req.url);
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end("<!doctype html><title>Shop</title><p>checkout</p>");
  });
  // A productUrl needs a host name: the shop as localhost.
  const shopUrl = `http://localhost:${new URL(shop).port}/esim/shop-1`;
  const feed = JSON.stringify({
    success: true,
    aggregator: "test",
    plans: [{
      name: "Shop plan", packageCode: "SHOP-1", productUrl: `${shopUrl}?ref=upstream`, dataAmount: 5,
      duration: 30, locationCodes: ["DE"], locationNames: ["Germany"], operator: "Op", speed: "5G",
      retailPrice: 9.5,
    }],
  });
  const upstream = await serve((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(feed);
  });
  const base = await startProxy({ CMG_API_KEY: "browser-test-key", CMG_FEED_URL: `${upstream}/feed` });
  const { page, errors } = await newPage();
  await page.goto(`${base}/?ref=acme-01`);
  await page.locator(".card").first().waitFor();
  const buy = page.locator("a.buy").first();
  const href = new URL(await buy.getAttribute("href"));
  assert.equal(`${href.origin}${href.pathname}`, `${base}/go/SHOP-1`);
  assert.equal(href.searchParams.get("ref"), "acme-01");
  assert.equal(href.searchParams.get("subid"), "finder");
  const [shopPage] = await Promise.all([page.context().waitForEvent("page"), buy.click()]);
  await shopPage.waitForLoadState();
  assert.equal(shopPage.url(), `${shopUrl}?ref=acme-01`);
  assert.ok(landed.includes("/esim/shop-1?ref=acme-01"), landed.join(" "));
  assert.deepEqual(errors, []);
});

test("names and prices follow the browser's language and the currency picked on the page", async () => {
  const { page, errors } = await newPage(1200, "de-DE");
  await page.goto(`${demo}/?currency=EUR`);
  await page.locator(".card").first().waitFor();
  // The first card shows the API's display price in euros, formatted for German.
  const first = await page.evaluate(async (base) =>
    (await (await fetch(`${base}/plans?currency=EUR&limit=12`)).json()).plans[0].display, demo);
  assert.equal(first.currency, "EUR");
  const formatted = await page.evaluate((v) =>
    new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }).format(v), first.retailPrice);
  await page.waitForFunction((text) =>
    document.querySelector(".cmg-plan-finder").shadowRoot.querySelector(".card .price").textContent === text, formatted);
  assert.equal(await page.locator("select[name=currency]").inputValue(), "EUR");
  // Region names and country names are German (CLDR), and a German name finds Germany.
  await page.waitForFunction(() =>
    document.querySelector(".cmg-plan-finder").shadowRoot.querySelector('select[name=region] option[value=europe]').textContent === "Europa");
  await pickCountry(page, "deutsch", "DE");
  await page.locator(".chip", { hasText: "Deutschland" }).waitFor();

  // Another currency: the page's URL keeps it, and the prices follow.
  await page.locator("select[name=currency]").selectOption("GBP");
  await page.waitForFunction(() => new URL(location.href).searchParams.get("currency") === "GBP");
  await page.waitForFunction(() =>
    document.querySelector(".cmg-plan-finder").shadowRoot.querySelector(".card .price").textContent.includes("£"));

  // Region, coverage and unlimited filters narrow the list as the API does.
  await page.locator(".chip", { hasText: "Deutschland" }).click();
  await page.locator("select[name=region]").selectOption("europe");
  await page.locator("select[name=scope]").selectOption("local");
  await page.getByLabel("Unlimited data only").check();
  const total = await page.evaluate(async (base) =>
    (await (await fetch(`${base}/plans?region=europe&scope=local&unlimited=true`)).json()).total, demo);
  assert.ok(total > 0);
  assert.equal(await settledTotal(page, { exactly: total }), total);
  const perGb = await page.locator(".card .ppg").allTextContents();
  assert.ok(perGb.every((t) => t === "Unlimited data"), perGb.join(" | "));
  await page.reload();
  await page.locator(".card").first().waitFor();
  assert.equal(await page.locator("select[name=currency]").inputValue(), "GBP", "the currency survives a reload");
  await page.screenshot({ path: path.join(artifacts, "finder-german-gbp.png"), fullPage: true });
  assert.deepEqual(errors, []);
});
