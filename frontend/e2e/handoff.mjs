// The Smart QR hand-off from the kiosk: the operator starts it from home,
// the screen shows the QR code and the short code; a phone (a second
// browser context) opens the link and presses Start, and the kiosk's
// screen follows; the operator then cancels and is home again. Prints {"code": "...",
// "stages": [...], "phone_status": 200, "home": bool} as its last line.
//
// Environment: KYC_E2E_URL, KYC_E2E_SHOTS, KYC_E2E_DISPLAY (as flow.mjs).
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { screenshot } from "../../internal/browsertest/screenshot.mjs";

const env = process.env;
const shots = env.KYC_E2E_SHOTS ?? "screenshots";
const browser = await chromium.launch({
  executablePath: env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
const result = { stages: [] };
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
async function shot(name) {
  await screenshot(page, { path: join(shots, `page-${name}.png`) });
  if (env.KYC_E2E_DISPLAY) {
    await page.waitForTimeout(700); // the window follows within its 1 s poll or at once on the event
    execFileSync("ffmpeg", ["-loglevel", "error", "-f", "x11grab", "-draw_mouse", "0", "-video_size", "1280x800",
      "-i", env.KYC_E2E_DISPLAY, "-frames:v", "1", "-y", join(shots, `window-${name}.png`)]);
  }
}
try {
  await page.goto(env.KYC_E2E_URL ?? "http://127.0.0.1:34115");
  await page.waitForSelector('body[data-screen="home"] #start-handoff:not([hidden])', { timeout: 60000 });
  await page.click("#start-handoff");
  await page.waitForSelector('body[data-screen="handoff"] #handoff-qr', { timeout: 60000 });
  result.code = (await page.textContent("#handoff-code")) ?? "";
  result.stages.push(await page.getAttribute("#handoff-stage", "data-stage"));
  const link = await page.getAttribute("#handoff-qr", "data-url");
  await shot("130-handoff-qr");
  // The customer's phone opens the link: its landing page (which binds
  // nothing, so a link preview cannot use it up), then Start, which binds
  // the phone and leads to the flow's page.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, ignoreHTTPSErrors: true, isMobile: true });
  const pp = await phone.newPage();
  await pp.goto(link);
  const [resp] = await Promise.all([pp.waitForNavigation({ waitUntil: "load" }), pp.click("#begin")]);
  result.phone_status = resp?.status() ?? 0;
  await screenshot(pp, { path: join(shots, "page-131-handoff-phone.png") });
  await page.waitForSelector('#handoff-stage:not([data-stage="waiting"])', { timeout: 30000 });
  result.stages.push(await page.getAttribute("#handoff-stage", "data-stage"));
  await shot("132-handoff-following");
  await page.click("#handoff-cancel");
  await page.waitForSelector('body[data-screen="home"]', { timeout: 30000 });
  result.home = true;
} catch (err) {
  result.error = String(err);
  result.page_error = await page.textContent("#error").catch(() => "");
  await screenshot(page, { path: join(shots, "page-handoff-failure.png") }).catch(() => undefined);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
