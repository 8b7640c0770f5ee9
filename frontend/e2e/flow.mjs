// End-to-end flow of the desktop app: headless Chromium (playwright-core,
// the system browser) drives the real UI served by the Wails dev server,
// whose bindings run the real Go side. The Go test e2e_test.go at the
// repository root starts the app, renders the scenario videos and runs this
// script; it reads the JSON line this script prints last.
//
// Environment:
//   KYC_E2E_URL        the dev server (http://127.0.0.1:34115)
//   KYC_E2E_SCENARIOS  JSON: [{name, document, selfie}] video files as cameras
//   KYC_E2E_SHOTS      folder for screenshots
//   KYC_E2E_DISPLAY    the X display of the Wails window, grabbed with ffmpeg
//   KYC_E2E_PREFIX     put before each screenshot's name (a second run)
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { screenshot } from "../../internal/browsertest/screenshot.mjs";

const url = process.env.KYC_E2E_URL ?? "http://127.0.0.1:34115";
const scenarios = JSON.parse(process.env.KYC_E2E_SCENARIOS ?? "[]");
const shots = process.env.KYC_E2E_SHOTS ?? "screenshots";
const display = process.env.KYC_E2E_DISPLAY;
const prefix = process.env.KYC_E2E_PREFIX ?? "";
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const log = [];
page.on("pageerror", (e) => log.push(`page error: ${e.stack}`));

// shot saves the page and, when a display is given, the real Wails window,
// which renders the same Go-side view.
async function shot(name) {
  await screenshot(page, { path: join(shots, `page-${prefix}${name}.png`) });
  if (display) {
    await page.waitForTimeout(700); // the window follows within its 1 s poll or at once on the event
    execFileSync("ffmpeg", ["-loglevel", "error", "-f", "x11grab", "-draw_mouse", "0", "-video_size", "1280x800",
      "-i", display, "-frames:v", "1", "-y", join(shots, `window-${prefix}${name}.png`)]);
  }
}

async function screen(name, timeout = 60000) {
  await page.waitForSelector(`body[data-screen="${name}"]`, { timeout });
}

const result = { scenarios: [], log };
let processingShot = false;
let selfieShot = false;
try {
  await page.goto(url);
  // A second run finds the operator still signed in, unless idle signed
  // them out.
  await page.waitForSelector('body[data-screen="sign_in"], body[data-screen="home"]', { timeout: 120000 });
  if ((await page.evaluate(() => document.body.dataset.screen)) === "sign_in") {
    await page.waitForSelector("#models table");
    await shot("01-sign-in");
    await page.fill("#operator", "agent01");
    await page.fill("#passphrase", "correct horse battery");
    await page.click("#sign-in-button");
  }
  await screen("home");
  await page.waitForSelector("#queue-table");
  await shot("02-home");

  for (const [i, sc] of scenarios.entries()) {
    const tag = `${String(i + 1).padStart(2, "0")}-${sc.name}`;
    await page.click("#open-settings");
    await screen("settings");
    await page.fill("#document-camera", sc.document);
    await page.fill("#selfie-camera", sc.selfie);
    if (i === 0) await shot(`03-settings`);
    await page.click("#save-settings");
    // The button stays disabled until SaveSettings has answered.
    await page.waitForSelector("#save-settings:not([disabled])");
    await page.click("#close-settings");
    await screen("home");

    await page.click("#start");
    await screen("document_select");
    if (i === 0) await shot(`04-document-select`);
    await page.selectOption("#doc-type", "national_id");
    await page.selectOption("#country", "ID");
    // Every preview frame drawn on the document screen is noted in the
    // page as it is drawn (time, guidance), so the rate is that of the
    // frames shown however soon the card is captured.
    await page.evaluate(() => {
      window.docFrames = [];
      if (window.docFramesSeen) return;
      window.docFramesSeen = new MutationObserver((records) => {
        if (document.body.dataset.screen !== "capture_document" || !document.body.dataset.previewSeq) return;
        const guidance = document.querySelector("#guidance")?.textContent ?? "";
        for (const _ of records) window.docFrames.push({ t: performance.now(), guidance });
      });
      window.docFramesSeen.observe(document.body, { attributes: true, attributeFilter: ["data-preview-seq"] });
    });
    await page.click("#choose-document");
    await screen("capture_document");
    // The preview runs while the guide waits for the card.
    await page.waitForFunction(() => window.docFrames.length > 5, null, { timeout: 30000 });
    if (i === 0) await shot(`05-capture-document`);
    // The selfie may be taken, and even the result shown, before the
    // document's screenshots are done: the selfie screen is shot in the
    // first scenario that catches it with its preview running.
    await page.waitForSelector(["capture_selfie", "processing", "result"].map((n) => `body[data-screen="${n}"]`).join(", "),
      { timeout: 60000 });
    await page.waitForFunction(() => document.body.dataset.screen !== "capture_selfie" ||
      Number(document.body.dataset.previewSeq ?? 0) > 2, null, { timeout: 30000 });
    if (!selfieShot && (await page.evaluate(() => document.body.dataset.screen)) === "capture_selfie") {
      await shot("06-capture-selfie");
      selfieShot = true;
    }
    // With the document read while the selfie was taken, processing lasts
    // a fraction of a second and may be over while the first scenario
    // still grabs its selfie shot: it is shot in the first scenario that
    // catches it.
    const processingSeen = await page.waitForSelector('body[data-screen="processing"]', { timeout: 5000 }).then(() => true, () => false);
    if (processingSeen && !processingShot) {
      await screenshot(page, { path: join(shots, `page-${prefix}07-processing.png`) });
      processingShot = true;
    }
    // A selfie whose passive liveness is in doubt is taken back to the
    // camera for an active challenge (prompts a rendered photo cannot
    // follow: it times out and the result follows).
    await page.waitForSelector('body[data-screen="result"], #challenge-prompts', { timeout: 60000 });
    const challenged = (await page.$("#challenge-prompts")) !== null;
    if (challenged) await shot(`${tag}-challenge`);
    await screen("result", 60000);
    const frames = await page.evaluate(() => window.docFrames);
    const r = {
      name: sc.name,
      challenged,
      preview_fps: ((frames.length - 1) * 1000) / (frames[frames.length - 1].t - frames[0].t),
      // The last words the guide said (the frame of the capture itself may say none).
      document_guidance: frames.findLast((f) => f.guidance !== "")?.guidance ?? "",
      message: await page.textContent("#customer-message"),
      decision: await page.textContent("#decision"),
      reasons: await page.textContent("#reasons"),
      next_action: await page.textContent("#next-action"),
      liveness_path: await page.textContent("#liveness-path"),
      capture_to_result_ms: parseFloat(await page.textContent("#latency")),
      submission_id: await page.textContent("#submission"),
      operator_hidden: !(await page.isVisible("#decision")),
    };
    // The customer's view, before the operator opens theirs: what it says.
    r.customer_text = await page.textContent(".customer-view");
    r.retry_advice = (await page.textContent("#retry-advice").catch(() => "")) ?? "";
    await shot(`${tag}-result-customer`);
    await page.click("#operator-view summary");
    await page.waitForSelector("#operator-details #identity", { timeout: 30000 });
    await page.waitForFunction(() => ["img-document", "img-selfie"].every((id) => {
      const im = document.getElementById(id);
      return im instanceof HTMLImageElement && im.complete && im.naturalWidth > 0;
    }), null, { timeout: 10000 }).catch(() => undefined);
    r.identity = await page.$$eval("#operator-details #identity tr", (rows) =>
      Object.fromEntries(rows.map((tr) => [tr.dataset.key, { value: tr.querySelector(".value")?.textContent ?? "", source: tr.querySelector(".muted")?.textContent ?? "" }])));
    r.images = await page.$$eval("#operator-details #pictures img", (imgs) =>
      Object.fromEntries(imgs.map((im) => [im.id, im.naturalWidth])));
    r.checks = await page.$$eval("#operator-details #checks li", (lis) => Object.fromEntries(lis.map((li) => [li.dataset.key, li.dataset.outcome])));
    r.gauges = await page.$$eval("#operator-details .gauge", (gs) => Object.fromEntries(gs.map((g) => [g.id, g.dataset.pass])));
    r.operator_say = (await page.textContent("#op-say")) ?? "";
    await page.locator("#operator-view").scrollIntoViewIfNeeded();
    await shot(`${tag}-result-operator`);
    result.scenarios.push(r);
    await page.click("#finish");
    await screen("home");
    await page.waitForSelector("#queue-table");
  }
  await shot("99-home-queue");
  result.queue = await page.$$eval("#queue-table tr[data-state]", (rows) => rows.map((r) => r.dataset.state));
  result.names = await page.$$eval("#queue-table tr[data-state] td.name", (tds) => tds.map((td) => td.textContent));
  // The operator opens their first verification from the queue: its
  // details come from the vault.
  const first = result.scenarios[0]?.submission_id;
  if (first) {
    await page.click(`#open-${first}`);
    await page.waitForSelector(`#opened-details[data-id="${first}"] #identity`, { timeout: 30000 });
    result.opened = {
      id: first,
      identity: await page.$$eval("#opened-details #identity tr", (rows) => rows.map((tr) => tr.dataset.key)),
      images: await page.$$eval("#opened-details #pictures img", (imgs) => imgs.map((im) => im.id)),
    };
    await page.locator("#opened-details").scrollIntoViewIfNeeded();
    await shot("99-queue-details");
  }
} catch (err) {
  result.error = String(err);
  await screenshot(page, { path: join(shots, "page-failure.png") }).catch(() => undefined);
  result.failed_screen = await page.evaluate(() => document.body.dataset.screen).catch(() => "");
  result.failed_error = await page.textContent("#error").catch(() => "");
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
