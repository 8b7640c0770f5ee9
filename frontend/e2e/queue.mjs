// Waits until every row of the home screen's queue reaches the wanted sync
// state (the app's background sync drains the vault's outbox into central),
// saves a screenshot, and prints {"queue": [...], "sync": "...", "config": "..."}
// (the rows' states, the sync status line, the configuration in use) as its
// last line.
//
// Environment: KYC_E2E_URL, KYC_E2E_SHOTS (as flow.mjs), KYC_E2E_WANT (synced),
// KYC_E2E_TIMEOUT_MS (90000), KYC_E2E_REQUEUE (a refused submission the operator
// sends again first, with its row's button).
import { chromium } from "playwright-core";
import { join } from "node:path";
import { screenshot } from "../../internal/browsertest/screenshot.mjs";

const url = process.env.KYC_E2E_URL ?? "http://127.0.0.1:34115";
const shots = process.env.KYC_E2E_SHOTS ?? "screenshots";
const want = process.env.KYC_E2E_WANT ?? "synced";
const timeout = Number(process.env.KYC_E2E_TIMEOUT_MS ?? 90000);
const requeue = process.env.KYC_E2E_REQUEUE ?? "";

const browser = await chromium.launch({
  executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
const result = { queue: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url);
  await page.waitForSelector("#queue-table", { timeout: 60000 });
  if (requeue) {
    const row = `#queue-table tr[data-id="${requeue}"]`;
    await page.waitForSelector(`${row}[data-state="rejected"] button.requeue`, { timeout: 30000 });
    await screenshot(page, { path: join(shots, "page-100-home-refused.png") });
    await page.click(`${row} button.requeue`);
    await page.waitForSelector(`${row}:not([data-state="rejected"])`, { timeout: 30000 });
  }
  const deadline = Date.now() + timeout;
  for (;;) {
    result.queue = await page.$$eval("#queue-table tr[data-state]", (rows) => rows.map((r) => r.dataset.state));
    if ((result.queue.length > 0 && result.queue.every((s) => s === want)) || Date.now() > deadline) break;
    await page.waitForTimeout(1000);
  }
  result.sync = (await page.textContent("#sync-panel").catch(() => "")) ?? "";
  result.config = (await page.textContent("#config-in-use").catch(() => "")) ?? "";
  await screenshot(page, { path: join(shots, `page-100-home-${want}.png`) });
} catch (err) {
  result.error = String(err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
