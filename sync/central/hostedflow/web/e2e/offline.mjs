// The hosted flow on a phone that loses the network (a lift, a train, Wi-Fi
// to mobile data), in headless Chromium: the Go test
// sync/central/hostedflow/offline_test.go (TestOfflineInBrowser) runs this
// script against central on loopback TLS; it prints one JSON line last:
// {"checks": [{name, pass, detail}], "axe": [...], "shots": [...],
// "submits": {"aborted": n, "lost": n, "passed": n}, "step", "error"}.
//
// The camera is refused, so the person uploads photos (the page's own
// upload form, its own requests); page.route() cuts the requests at
// chosen moments:
//
//   upload    the document's upload fails on the network: the page says
//             there is no connection (not "something went wrong") and the
//             same photo sent again goes through
//   submit    every submit after the selfie fails on the network: the
//             page stays on the check (never asks for the selfie again),
//             says the photos are kept and it will retry, offers "Try
//             now", and sends again after a wait that grows (no hot loop)
//   reload    the page loaded again then lands on the submit, not on a
//             capture step
//   lost      a submit reaches central but its answer is lost; the
//             person's "Try now" sends it again: central answers the
//             verification under way, the page follows it to the result,
//             one attempt and one submission (the Go test counts them)
//
//   frames    a second session, with a camera: guidance frames lost to
//             the network say so; back online, a capture central kept
//             whose answer was lost moves the page on (the selfie's to the
//             submit), never capturing it again
//
// Environment: KYC_PLAYWRIGHT, KYC_E2E_CHROMIUM, KYC_AXE, KYC_FLOW_URL,
// KYC_OFFLINE_LAUNCH and KYC_OFFLINE_LAUNCH2 (two sessions' launch URLs), KYC_OFFLINE_DOCUMENT and
// KYC_OFFLINE_SELFIE (JPEG files), KYC_FLOW_SHOTS. Nothing sleeps: every
// step waits for a condition.
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runAxe, wcag21aa } from "../../../../../internal/browsertest/axe.mjs";
import { screenshot } from "../../../../../internal/browsertest/screenshot.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { strings } = await import(pathToFileURL(join(here, "..", "static", "i18n.js")).href);
const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_FLOW_URL;
const shots = process.env.KYC_FLOW_SHOTS ?? "screenshots";
mkdirSync(shots, { recursive: true });
const en = strings.en;
const result = { checks: [], axe: [], shots: [], submits: { aborted: 0, lost: 0, passed: 0 }, step: "", error: "" };
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });
const step = (s) => {
  result.step = s;
  process.stdout.write(`${s}\n`);
};
const captureScreens = (list) => list.filter((s) => s.startsWith("capture-") || s.startsWith("camera-"));

let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    ignoreHTTPSErrors: true, locale: "en-GB" });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => check("no page error", false, e.message));
  // Every screen the page shows, in order (body[data-screen], through an
  // observer the page cannot see), kept across reloads in the page's window.
  await page.addInitScript(() => {
    window.__screens = [];
    new MutationObserver(() => {
      const s = document.body?.dataset.screen;
      if (s && window.__screens[window.__screens.length - 1] !== s) window.__screens.push(s);
      if (s === "offline") window.__offlineTitle = document.querySelector("h1")?.textContent;
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-screen"] });
  });
  const screens = () => page.evaluate(() => window.__screens.slice());
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Browser.setPermission", { permission: { name: "camera" }, setting: "denied", origin: new URL(base).origin });

  step("opening the launch link");
  await page.goto(process.env.KYC_OFFLINE_LAUNCH, { waitUntil: "load" });
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("#begin")]);
  await page.waitForSelector('body[data-screen="intro"]', { state: "attached", timeout: 30_000 });
  await page.click("#start");
  await page.waitForSelector("#upload-document", { state: "attached", timeout: 30_000 });

  // --- upload ------------------------------------------------------------------------
  step("upload: the document's upload lost to the network");
  let cutCapture = true;
  await page.route("**/flow/api/capture*", (route) => {
    if (cutCapture) {
      cutCapture = false;
      return route.abort("internetdisconnected");
    }
    return route.continue();
  });
  await page.setInputFiles("#upload-document", process.env.KYC_OFFLINE_DOCUMENT);
  await page.waitForFunction(() => document.getElementById("flow-error")?.textContent && !document.getElementById("upload-document")?.disabled,
    null, { timeout: 30_000 });
  const uploadMsg = ((await page.textContent("#flow-error")) ?? "").trim();
  check("upload: a lost upload says there is no connection, not that something went wrong", uploadMsg === en.offline_error, uploadMsg);
  // The same photo chosen again (a browser fires no change for the file
  // the input already holds: the page must have let it go).
  await page.setInputFiles("#upload-document", process.env.KYC_OFFLINE_DOCUMENT);
  const again = await page.waitForSelector("#upload-selfie", { state: "attached", timeout: 30_000 }).then(() => true, () => false);
  check("upload: the same photo chosen again after a lost upload is sent", again);
  if (!again) throw new Error("the document's upload not sent again");

  // --- submit ------------------------------------------------------------------------
  step("submit: every submit lost to the network");
  let mode = "abort";
  const attempts = []; // when each submit left the page (ms)
  let waiting = null; // {n, resolve}: untilAttempts
  const untilAttempts = (n) => new Promise((resolve) => {
    if (attempts.length >= n) return resolve();
    waiting = { n, resolve };
  });
  await page.route("**/flow/api/submit", async (route) => {
    attempts.push(Date.now());
    if (waiting && attempts.length >= waiting.n) {
      waiting.resolve();
      waiting = null;
    }
    if (mode === "abort") {
      result.submits.aborted++;
      return route.abort("internetdisconnected");
    }
    if (mode === "lost") {
      // central receives it and starts the verification; the answer
      // never reaches the phone.
      mode = "pass";
      await route.fetch();
      result.submits.lost++;
      return route.abort("connectionreset");
    }
    result.submits.passed++;
    return route.continue();
  });
  const before = (await screens()).length;
  await page.setInputFiles("#upload-selfie", process.env.KYC_OFFLINE_SELFIE);
  // The fixed page offers "Try now"; one that lost the photos asks for the
  // selfie again (the camera refused again: its camera screen).
  const outcome = await page.waitForFunction((n) => {
    if (document.querySelector("#submit-now:not([hidden])")) return "retry";
    const s = window.__screens.slice(n).find((x) => x.startsWith("capture-") || x.startsWith("camera-"));
    return s || false;
  }, before, { timeout: 30_000 }).then((h) => h.jsonValue());
  check("submit: a lost submit keeps the person on the check and offers to try now", outcome === "retry", `outcome ${outcome}`);
  const back = captureScreens((await screens()).slice(before));
  check("submit: the page never asks again for a photo central holds", back.length === 0, back.join(", "));
  if (outcome === "retry") {
    const msg = ((await page.textContent("#net-status")) ?? "").trim();
    check("submit: the page says there is no connection and the photos are kept", msg === en.submit_offline, msg);
    check("submit: the screen is the check's", (await page.evaluate(() => document.body.dataset.screen)) === "processing");
    const a = await runAxe(page, process.env.KYC_AXE, { tags: wcag21aa }).catch((e) => ({ passes: 0, violations: [], error: String(e.message) }));
    result.axe.push({ page: "submit-offline", size: "phone", ...a });
    const file = "phone-submit-offline.png";
    await screenshot(page, { path: join(shots, file), fullPage: true });
    result.shots.push(file);
  }

  // --- reload ------------------------------------------------------------------------
  step("reload: the page loaded again while the submit still fails");
  // The page's first state is lost to the network too: the page says so
  // and tries again by itself.
  let cutState = true;
  const stateCut = (route) => {
    if (!cutState) return route.continue();
    cutState = false;
    return route.abort("internetdisconnected");
  };
  await page.route("**/flow/api/state", stateCut);
  const n0 = attempts.length;
  await page.reload({ waitUntil: "load" });
  const afterReload = await page.waitForFunction(() => {
    if (document.querySelector("#submit-now:not([hidden])")) return "retry";
    const s = document.body?.dataset.screen || "";
    return s.startsWith("capture-") || s.startsWith("camera-") || s === "intro" ? s : false;
  }, null, { timeout: 30_000 }).then((h) => h.jsonValue(), async () => `no screen of its own in 30 s: ${await page.evaluate(() => document.body.dataset.screen)}`);
  await page.unroute("**/flow/api/state", stateCut);
  const reloaded = await screens();
  check("reload: a first state lost to the network says so and is fetched again by itself",
    reloaded[0] === "offline" && afterReload === "retry", `screens ${reloaded.join(", ")}; ${afterReload}`);
  check("reload: the page lands on the submit of the photos taken, not on a capture step", afterReload === "retry", `landed on ${afterReload}`);
  const offlineTitle = await page.evaluate(() => window.__offlineTitle);
  check("reload: the lost first state is headed as a lost connection, not as the service down", offlineTitle === "No connection", `heading ${offlineTitle}`);
  if (afterReload === "retry") {
    // Three submits since the reload: the first at once, then after
    // waits that grow.
    step("reload: waiting for the submits to back off");
    await Promise.race([untilAttempts(n0 + 3),
      page.waitForTimeout(40_000).then(() => { throw new Error(`${attempts.length - n0} submits in 40 s after the reload, want 3`); })]);
    const gaps = [attempts[n0 + 1] - attempts[n0], attempts[n0 + 2] - attempts[n0 + 1]];
    check("reload: a submit lost to the network is sent again after a wait that grows (no hot loop)",
      gaps[0] >= 1000 && gaps[1] >= gaps[0] * 1.5, `gaps ${gaps.join(", ")} ms`);
  }

  // --- lost --------------------------------------------------------------------------
  if (afterReload !== "retry") throw new Error("the page lost the submit: the lost answer not tried");
  step("lost: the submit reaches central, its answer does not reach the phone");
  // The phone off the network altogether, then back: the page sends again.
  await ctx.setOffline(true);
  mode = "lost";
  const lostSeen = page.waitForEvent("requestfailed", { predicate: (r) => r.url().endsWith("/flow/api/submit") && mode === "pass", timeout: 60_000 });
  await ctx.setOffline(false); // back online: the page sends at once (or at its next try)
  await lostSeen;
  await page.waitForSelector("#submit-now:not([hidden])", { timeout: 30_000 });
  // While the verification runs the page follows it; those polls lost
  // to the network too are sent again after waits that grow.
  const polls = [];
  let pollWaiting = null;
  await page.route("**/flow/api/state", (route) => {
    polls.push(Date.now());
    if (pollWaiting && polls.length >= 3) pollWaiting();
    return route.abort("internetdisconnected");
  });
  await page.click("#submit-now");
  await Promise.race([new Promise((r) => { pollWaiting = r; }),
    page.waitForTimeout(30_000).then(() => { throw new Error(`${polls.length} state polls in 30 s, want 3`); })]);
  await page.unroute("**/flow/api/state");
  const pollGaps = [polls[1] - polls[0], polls[2] - polls[1]];
  check("lost: the page's polls lost to the network are sent again after a wait that grows (no hot loop)",
    pollGaps[1] >= pollGaps[0] * 1.5, `gaps ${pollGaps.join(", ")} ms`);
  const ends = ["success", "error", "retry", "exit", "done", "leaving"];
  await page.waitForSelector(ends.map((s) => `body[data-screen="${s}"]`).join(", "), { state: "attached", timeout: 90_000 });
  const st = await page.evaluate(async () => (await fetch("/flow/api/state", { cache: "no-store" })).json());
  check("lost: the flow goes on to the verification's result", ["result", "done"].includes(st.stage) && st.attempt === 1,
    JSON.stringify({ stage: st.stage, attempt: st.attempt, status: st.status }));
  check("lost: the lost submit reached central once and the one sent again too", result.submits.lost === 1 && result.submits.passed >= 1,
    JSON.stringify(result.submits));
  const all = captureScreens(await screens());
  check("lost: no capture step since the reload", all.length === 0, all.join(", "));
  await ctx.close();

  // --- frames ------------------------------------------------------------------------
  // A second session with a camera (Chromium's own fake one, which no
  // guide captures from): the guidance frames lost to the network, then a
  // capture central keeps whose answer is lost (sent here from the page's
  // origin as the capture the frames' guide would have kept).
  step("frames: guidance frames lost to the network");
  const camBrowser = await chromium.launch({
    executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
  });
  try {
    const ctx2 = await camBrowser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, ignoreHTTPSErrors: true, locale: "en-GB" });
    await ctx2.grantPermissions(["camera"], { origin: new URL(base).origin });
    const p2 = await ctx2.newPage();
    p2.on("pageerror", (e) => check("no page error", false, e.message));
    await p2.goto(process.env.KYC_OFFLINE_LAUNCH2, { waitUntil: "load" });
    await Promise.all([p2.waitForNavigation({ waitUntil: "load" }), p2.click("#begin")]);
    await p2.waitForSelector('body[data-screen="intro"]', { state: "attached", timeout: 30_000 });
    await p2.click("#start");
    await p2.waitForSelector('body[data-screen="capture-document"]', { state: "attached", timeout: 30_000 });
    await p2.route("**/flow/api/frame*", (route) => route.abort("internetdisconnected"));
    const hint = await p2.waitForFunction((msg) => document.getElementById("guidance-hint")?.textContent === msg, en.network, { timeout: 30_000 })
      .then(() => true, () => false);
    check("frames: frames lost to the network say so", hint);
    await p2.unroute("**/flow/api/frame*");
    const upload = (step, b64) => p2.evaluate(async ({ step, b64 }) => {
      const r = await fetch(`/flow/api/capture?step=${step}&source=upload`, { method: "POST", body: Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
        headers: { "X-Flow-CSRF": document.documentElement.dataset.csrf, "Content-Type": "image/jpeg" } });
      return r.status;
    }, { step, b64 });
    const docStatus = await upload("document", readFileSync(process.env.KYC_OFFLINE_DOCUMENT).toString("base64"));
    const onSelfie = await p2.waitForSelector('body[data-screen="capture-selfie"]', { state: "attached", timeout: 30_000 }).then(() => true, () => false);
    check("frames: back online, the page moves past a document central keeps", docStatus === 200 && onSelfie, `upload ${docStatus}`);
    step("frames: the selfie kept at central, its answer lost");
    const selfieStatus = await upload("selfie", readFileSync(process.env.KYC_OFFLINE_SELFIE).toString("base64"));
    const went = await p2.waitForSelector('body[data-screen="processing"], body[data-screen="success"], body[data-screen="error"], body[data-screen="done"]',
      { state: "attached", timeout: 30_000 }).then(() => "on", async () => `still on ${await p2.evaluate(() => document.body.dataset.screen)}`);
    check("frames: a selfie central keeps is submitted, not captured again", selfieStatus === 200 && went === "on", `upload ${selfieStatus}, ${went}`);
  } finally {
    await camBrowser.close().catch(() => {});
  }
} catch (e) {
  result.error = String(e?.stack ?? e);
} finally {
  await browser?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
