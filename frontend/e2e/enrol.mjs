// Enrols the running app's device with central from the settings screen,
// as a supervisor does: central's address, the one-time token, central's CA
// (a file path), the supervisor's name and passphrase. Then waits on the
// home screen until the sync panel says central is online. Prints
// {"enrolled": bool, "status": "...", "sync": "..."} as its last line.
//
// Environment: KYC_E2E_URL, KYC_E2E_SHOTS (as flow.mjs), KYC_E2E_CENTRAL,
// KYC_E2E_TOKEN, KYC_E2E_CA, KYC_E2E_SUPERVISOR, KYC_E2E_PASSPHRASE,
// KYC_E2E_DISPLAY (the Wails window, grabbed as flow.mjs does).
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { screenshot } from "../../internal/browsertest/screenshot.mjs";

const env = process.env;
const url = env.KYC_E2E_URL ?? "http://127.0.0.1:34115";
const shots = env.KYC_E2E_SHOTS ?? "screenshots";
const browser = await chromium.launch({
  executablePath: env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
const result = { enrolled: false };
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
  await page.goto(url);
  await page.waitForSelector('body[data-screen="home"] #queue-table', { timeout: 60000 });
  await page.waitForSelector("#sync-state");
  result.before = (await page.textContent("#sync-state")) ?? "";
  await page.click("#open-settings");
  await page.waitForSelector('body[data-screen="settings"] #enrolment');
  await page.fill("#enrol-central", env.KYC_E2E_CENTRAL);
  await page.fill("#enrol-token", env.KYC_E2E_TOKEN);
  await page.fill("#enrol-ca", env.KYC_E2E_CA);
  await page.fill("#enrol-supervisor", env.KYC_E2E_SUPERVISOR);
  await page.fill("#enrol-passphrase", env.KYC_E2E_PASSPHRASE);
  await shot("110-settings-enrol");
  await page.click("#enrol-button");
  await page.waitForSelector('#enrolment-status[data-enrolled="true"]', { timeout: 60000 });
  result.enrolled = true;
  result.status = (await page.textContent("#enrolment-status")) ?? "";
  await shot("111-settings-enrolled");
  await page.click("#close-settings");
  await page.waitForSelector('body[data-screen="home"] #sync-state[data-online="true"]', { timeout: 90000 });
  result.sync = (await page.textContent("#sync-panel")) ?? "";
  await shot("112-home-online");
} catch (err) {
  result.error = String(err);
  result.page_error = await page.textContent("#error").catch(() => "");
  await screenshot(page, { path: join(shots, "page-enrol-failure.png") }).catch(() => undefined);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
