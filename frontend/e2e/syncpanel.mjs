// Presses "Sync now" on the home screen until the sync panel says central
// is online or offline (KYC_E2E_WANT), saves a screenshot and prints
// {"online": bool, "state": "...", "offline_for": "...", "error": "...",
// "waiting": "...", "last_contact": "..."} as its last line.
//
// Environment: KYC_E2E_URL, KYC_E2E_SHOTS (as flow.mjs), KYC_E2E_WANT
// (online or offline), KYC_E2E_NAME (the screenshot's name).
import { chromium } from "playwright-core";
import { join } from "node:path";
import { screenshot } from "../../internal/browsertest/screenshot.mjs";

const env = process.env;
const want = env.KYC_E2E_WANT === "offline" ? "false" : "true";
const browser = await chromium.launch({
  executablePath: env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
const result = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(env.KYC_E2E_URL ?? "http://127.0.0.1:34115");
  await page.waitForSelector('body[data-screen="home"] #sync-state', { timeout: 60000 });
  const deadline = Date.now() + 90000;
  // Online means a clean pass: the one that first reaches central again
  // may still report what failed on its way.
  const reached = async () => (await page.getAttribute("#sync-state", "data-online")) === want &&
    (want === "false" || (await page.$("#sync-error")) === null);
  // Each press starts a pass at once; the panel redraws when it ends.
  while (!(await reached())) {
    if (Date.now() > deadline) throw new Error(`the sync panel did not turn online=${want}`);
    await page.click("#sync-now").catch(() => undefined);
    await page.waitForFunction((w) => document.querySelector("#sync-state")?.getAttribute("data-online") === w &&
      (w === "false" || !document.querySelector("#sync-error")), want, { timeout: 5000 }).catch(() => undefined);
  }
  const text = async (sel) => (await page.textContent(sel).catch(() => "")) ?? "";
  result.online = want === "true";
  result.state = await text("#sync-state");
  result.offline_for = await text("#offline-for");
  result.sync_error = await text("#sync-error");
  result.waiting = await text("#waiting");
  result.last_contact = await text("#last-contact");
  await page.locator("#sync-panel").scrollIntoViewIfNeeded();
  await screenshot(page, { path: join(env.KYC_E2E_SHOTS ?? "screenshots", `page-${env.KYC_E2E_NAME ?? "sync"}.png`) });
} catch (err) {
  result.error = String(err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
