// Active liveness through the page (issue 19 item 2): headless Chromium
// whose fake camera plays the videos the Go test renders
// (sync/central/hostedflow/headturn_test.go, renderActive): the document
// video, the card held steady, for the back camera, and the selfie video,
// a person facing the camera, then turning to their left, back, to their
// right, back, for the front one; camera.mjs (shared with flow.mjs) points
// the fake camera at the one a getUserMedia asks for before it opens, so
// each capture step starts at its own video's first frame. Against a
// session with liveness_type active, the page captures the document and
// the selfie by itself, the server's guidance asks for the turns in the
// order the page lists them (the session's, state.challenges; the Go test
// fixes it to the video's, left then right), the video's turns complete
// them, and the attempt goes to processing and a result. Prints one JSON
// line last: {"checks": [{name, pass, detail}], "codes": [...],
// "shots": [...], "step": "...", "error": "..."}.
//
// With KYC_ACTIVE_DOUBT=1 the session is passive and the person's face
// greyscale, so the passive liveness is in doubt: the first selfie ends on
// the retry screen asking for one more step, and the retried selfie (its
// camera opened again, the selfie video from its start) takes the turns.
//
// Environment: KYC_PLAYWRIGHT, KYC_E2E_CHROMIUM, KYC_FLOW_URL,
// KYC_ACTIVE_LAUNCH (the launch URL), KYC_ACTIVE_VIDEO_DOCUMENT and
// KYC_ACTIVE_VIDEO_SELFIE (Y4M), KYC_ACTIVE_CAMERA (the file the fake
// camera opens, made a symlink to one of the videos), KYC_FLOW_SHOTS,
// KYC_ACTIVE_DOUBT, KYC_ACTIVE_PROMPT_MS (how long a turn's prompt may
// wait for the video's turn), KYC_FLOW_CPU_THROTTLE (optional: slow the
// page's CPU by this factor, as flow.mjs does). Everything waits for a
// condition; nothing sleeps. The result's timeline lists each guidance
// code with its seconds from the start, for a failure's report.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { screenshot } from "../../../../../internal/browsertest/screenshot.mjs";
import { fakeCamera, followCamera, throttleCPU } from "./camera.mjs";

const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_FLOW_URL;
const shots = process.env.KYC_FLOW_SHOTS ?? "screenshots";
const doubt = process.env.KYC_ACTIVE_DOUBT === "1";
const promptMs = Number(process.env.KYC_ACTIVE_PROMPT_MS) || 120_000;
mkdirSync(shots, { recursive: true });
const result = { checks: [], codes: [], timeline: [], shots: [], step: "", error: "" };
const t0 = Date.now();
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });
const step = (s) => {
  result.step = s;
  result.timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s [${s}]`);
  process.stdout.write(`${s}\n`);
};
const sizes = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
};

let browser;
try {
  const camera = fakeCamera(process.env.KYC_ACTIVE_CAMERA,
    { document: process.env.KYC_ACTIVE_VIDEO_DOCUMENT, selfie: process.env.KYC_ACTIVE_VIDEO_SELFIE });
  browser = await chromium.launch({
    executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
      ...camera.args, "--use-fake-ui-for-media-stream"],
  });
  const ctx = await browser.newContext({ viewport: sizes.phone, deviceScaleFactor: 2, isMobile: true, hasTouch: true, ignoreHTTPSErrors: true, locale: "en-GB" });
  await ctx.grantPermissions(["camera"], { origin: new URL(base).origin });
  const page = await ctx.newPage();
  await throttleCPU(page, process.env.KYC_FLOW_CPU_THROTTLE);
  // The document video for the back camera, the selfie video for the front.
  await followCamera(page, camera);
  page.on("pageerror", (e) => check(`no page error (${e.message})`, false, e.message));
  // Every guidance answer's first message code, in order (repeats folded).
  const codes = result.codes;
  page.on("response", async (resp) => {
    const u = new URL(resp.url());
    if (u.pathname !== "/flow/api/frame" || resp.status() !== 200) return;
    try {
      const j = await resp.json();
      const c = `${u.searchParams.get("step")}:${j?.overlay?.messages?.[0]?.code ?? ""}${j?.captured ? "*" : ""}`;
      if (codes[codes.length - 1] !== c) {
        codes.push(c);
        result.timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${c}`);
      }
    } catch {
      /* the page moved on */
    }
  });

  step("opening the launch link");
  await page.goto(process.env.KYC_ACTIVE_LAUNCH);
  // The link's landing page: Start binds this browser.
  await Promise.all([page.waitForURL((u) => u.pathname === "/flow/app", { timeout: 30_000 }), page.click("#begin")]);
  await page.waitForSelector('body[data-screen="intro"]', { state: "attached", timeout: 30_000 });
  await page.click("#start");
  step("document");
  await page.waitForSelector('body[data-screen="capture-selfie"]', { state: "attached", timeout: 120_000 });
  check("the document is captured by itself (guide)", codes.some((c) => c.startsWith("document:") && c.endsWith("*")), codes.join(" "));
  if (doubt) {
    step("a passive selfie in doubt");
    await page.waitForSelector('body[data-screen="retry"]', { state: "attached", timeout: 120_000 });
    const msg = (await page.textContent("#result-message")) ?? "";
    check("the doubt asks for one more step", /one more step/i.test(msg), msg);
    const title = (await page.textContent("#screen-title")) ?? "";
    check("the retry screen is titled one more step", title.trim() === "One more step", title);
    const file = "phone-doubt-retry.png";
    await screenshot(page, { path: join(shots, file), fullPage: true });
    result.shots.push(file);
    await page.click("#retry");
    await page.waitForSelector('body[data-screen="capture-selfie"]', { state: "attached", timeout: 30_000 });
    await page.waitForSelector("#challenges", { state: "attached", timeout: 30_000 });
    check("the retried selfie lists the turns", (await page.$$("#challenges li")).length === 2);
  }
  step("selfie, then the turns");
  // The turns in the order the page lists them (the session's).
  await page.waitForSelector("#challenges li", { state: "attached", timeout: 120_000 });
  const order = await page.$$eval("#challenges li", (lis) => lis.map((li) => li.dataset.key));
  result.order = order;
  check("the page lists both turns", order.length === 2 && order.includes("turn_left") && order.includes("turn_right"), order.join(" "));
  // The first prompt: the server's guidance after the selfie, captured in
  // the video's frontal part (in a later pass of the video when the page is
  // too slow for the first).
  await page.waitForSelector(`#guidance[data-code="${order[0]}"]`, { timeout: promptMs });
  for (const size of ["phone", "desktop"]) {
    await page.setViewportSize(sizes[size]);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const file = `${size}-${doubt ? "doubt" : "active"}-${order[0].replace("_", "-")}.png`;
    await screenshot(page, { path: join(shots, file), fullPage: true });
    result.shots.push(file);
  }
  await page.setViewportSize(sizes.phone);
  await page.waitForSelector(`#guidance[data-code="${order[1]}"]`, { timeout: promptMs });
  step("processing and result");
  const end = await page.waitForSelector(
    'body[data-screen="processing"], body[data-screen="success"], body[data-screen="error"], body[data-screen="retry"], body[data-screen="exit"], body[data-screen="leaving"], body[data-screen="done"]',
    { state: "attached", timeout: 120_000 });
  check("the selfie step ends once both turns are done", !!end);
  // The selfie's codes: the frontal selfie held (capturing), then the
  // turns asked for in the listed order; the step completes on the second
  // turn's frame (the answer that says captured).
  const sel = codes.filter((c) => c.startsWith("selfie:")).map((c) => c.slice("selfie:".length));
  const first = sel.indexOf(order[0]);
  const second = sel.findIndex((c, k) => k > first && c.startsWith(order[1]));
  check(`the server asked for the turns in the listed order: ${order.join(", then ")}`, first >= 0 && second > first, codes.join(" "));
  check("the frontal selfie was held before the turns", sel.indexOf("capturing") >= 0 && sel.indexOf("capturing") < first, codes.join(" "));
  check("the step completed on the second turn", sel[sel.length - 1] === `${order[1]}*`, codes.join(" "));
  await page.waitForSelector('body[data-screen="success"], body[data-screen="error"], body[data-screen="retry"], body[data-screen="exit"], body[data-screen="leaving"], body[data-screen="done"]',
    { state: "attached", timeout: 120_000 });
  const screen = await page.evaluate(() => document.body.dataset.screen);
  check("a result follows", ["success", "error", "retry", "exit", "leaving", "done"].includes(screen), screen);
} catch (e) {
  result.error = e?.stack ?? String(e);
} finally {
  if (browser) await browser.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
