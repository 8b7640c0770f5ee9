// End-to-end test of the hosted capture flow (issue 19) in headless Chromium
// (playwright-core, the system browser) with Chromium's fake camera playing
// a video the Go test renders, against a real kyc-central over TLS on
// loopback. The Go test sync/central/hostedflow/e2e_test.go
// (TestHostedFlowInBrowser) sets everything up and runs this script; it
// reads the JSON line this script prints last:
//
//   {"checks": [{name, pass, detail}], "skipped": [{scenario, reason}],
//    "shots": [...], "axe": [{page, size, passes, review, violations: [{id, impact, help, nodes, targets}], error}],
//    "log": [...], "frames_ms": [...],
//    "capture_to_result": [{scenario, ms}], "sessions": [{scenario, frames, seconds}],
//    "step": "...", "error": "..."}
//
// A line "@@<request> <json>" asks the Go test for what only it can do
// (Initiate Flow with the partner's token, the partner's view of a session,
// the webhooks and redirects the partner's site received, central's CPU
// time); it answers one JSON line on stdin.
//
// Environment:
//   KYC_FLOW_URL             central's base URL (https://127.0.0.1:PORT)
//   KYC_PLAYWRIGHT           absolute path of playwright-core's index.mjs
//   KYC_AXE                  absolute path of axe-core's axe.min.js: every
//                            screenshot is also checked against WCAG 2.1 AA
//   KYC_E2E_CHROMIUM         the Chromium binary
//   KYC_FLOW_SHOTS           folder for the screenshots
//   KYC_FLOW_PARTNER_SITE    the partner's site (http://127.0.0.1:PORT): /done is the redirect_url
//   KYC_FLOW_VIDEOS          folder of the fake camera's Y4M videos, two a
//                            person (NAME-document.y4m for the back camera,
//                            NAME-selfie.y4m for the front one): genuine (the
//                            card, the card's person), other (the same card,
//                            another person), still (the same card, the card's
//                            person as a still photo: every frame the same, an
//                            injection)
//   KYC_FLOW_CAMERAS         folder for the file each browser's fake camera
//                            opens (a symlink to one of the videos)
//   KYC_FLOW_UPLOAD_DOCUMENT a photo (JPEG) of the card, for the upload fallback
//   KYC_FLOW_UPLOAD_SELFIE   a photo (JPEG) of the card's person
//   KYC_FLOW_UPLOAD_SELFIE_TOO_BIG  optional: a selfie over the face engine's pixel bound, refused first
//   KYC_FLOW_ONLY            optional: comma-separated scenarios to run (default all)
//   KYC_FLOW_CPU_THROTTLE    optional: slow every page's CPU by this factor
//                            (DevTools' CPU throttling), as a slow phone or a
//                            loaded machine does, while the fake camera plays
//                            at its own speed: 60 makes the page send a frame
//                            about every 5 s (the twelve-second segments of the
//                            single video of before failed at that, the
//                            current ones pass)
//
// Chromium takes one video file for every camera, opened again at each
// getUserMedia: the file named to it is a symlink that a page's
// getUserMedia points, before the camera opens, at the person's document
// video when the page asks for the back camera and at the selfie video
// when it asks for the front one (camera.mjs, shared with active.mjs), as
// a phone's cameras see the card and the face. Each capture step so starts
// at its own video's first frame, whatever the page or the machine's
// speed, and never waits for another step's part of a video. A browser's
// cameras all show one person: a scenario needing another face launches
// another browser. Central's certificate comes from its private CA, which
// the throwaway profile does not trust: each context ignores certificate
// errors (ignoreHTTPSErrors), which concerns this test's contexts only.
//
// Everything waits for a condition (a screen, a selector, a response, a
// URL); nothing sleeps and hopes. The one poll asks the partner API once a
// second whether the 60 s sessions have expired.
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runAxe, wcag21aa } from "../../../../../internal/browsertest/axe.mjs";
import { screenshot } from "../../../../../internal/browsertest/screenshot.mjs";
import { fakeCamera, followCamera, throttleCPU } from "./camera.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const { strings } = await import(pathToFileURL(join(here, "..", "static", "i18n.js")).href);
const en = strings.en;
const id = strings.id;
const base = process.env.KYC_FLOW_URL;
const site = process.env.KYC_FLOW_PARTNER_SITE;
const shots = process.env.KYC_FLOW_SHOTS ?? "screenshots";
const videoDir = process.env.KYC_FLOW_VIDEOS;
const cameraDir = process.env.KYC_FLOW_CAMERAS ?? shots;
const only = (process.env.KYC_FLOW_ONLY ?? "").split(",").filter(Boolean);
const uploads = {
  document: process.env.KYC_FLOW_UPLOAD_DOCUMENT, selfie: process.env.KYC_FLOW_UPLOAD_SELFIE,
  selfieTooBig: process.env.KYC_FLOW_UPLOAD_SELFIE_TOO_BIG,
};
mkdirSync(shots, { recursive: true });

const axePath = process.env.KYC_AXE;
const result = { checks: [], skipped: [], shots: [], axe: [], log: [], frames_ms: [], capture_to_result: [], sessions: [], step: "", error: "" };
const check = (name, pass, detail = "") => {
  result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });
  return !!pass;
};
const step = (s) => {
  result.step = s;
  process.stdout.write(`${s}\n`);
};

// Skipped is how a scenario says a page or route it needs is not there.
class Skipped extends Error {}

// --- the Go side ------------------------------------------------------------------

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(request, arg = {}) {
  process.stdout.write(`@@${request} ${JSON.stringify(arg)}\n`);
  const { value, done } = await stdin.next();
  if (done) throw new Error(`no answer to ${request}`);
  const answer = JSON.parse(value);
  if (answer && answer.error) throw new Error(`${request}: ${answer.error}`);
  return answer;
}

// newFlow initiates a session through the partner API (the Go test holds
// the partner's token).
async function newFlow(userID, config = {}) {
  return ask("flow", { config: { partner_user_id: userID, redirect_url: `${site}/done`, ...config } });
}

// --- browsers, contexts, pages ------------------------------------------------------

const sizes = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
};

// launch starts Chromium named name: a camera of person plays that
// person's videos as every camera (fakeCamera, its file
// KYC_FLOW_CAMERAS/NAME.y4m), with no person it has no camera at all;
// fakeUI answers the permission prompt yes.
async function launch(name, person, { fakeUI = true } = {}) {
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"];
  const camera = person ? fakeCamera(join(cameraDir, `${name}.y4m`), {
    document: join(videoDir, `${person}-document.y4m`), selfie: join(videoDir, `${person}-selfie.y4m`),
  }) : null;
  if (camera) args.push(...camera.args);
  if (fakeUI) args.push("--use-fake-ui-for-media-stream");
  const b = await chromium.launch({ executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium", args });
  b.camera = camera;
  return b;
}

async function newContext(browser, size, { locale = "en-GB", camera = true, storageState } = {}) {
  const ctx = await browser.newContext({ ...sizes[size], ignoreHTTPSErrors: true, locale, storageState });
  if (camera) await ctx.grantPermissions(["camera"], { origin: new URL(base).origin });
  ctx.size = size;
  ctx.camera = browser.camera;
  return ctx;
}

// track follows a page: the browser's errors, every guidance frame's round
// trip and answer, the screens it shows (body[data-screen], through an
// observer the page cannot see) with the time each appeared.
async function newPage(ctx, who) {
  const page = await ctx.newPage();
  page.who = who;
  await throttleCPU(page, process.env.KYC_FLOW_CPU_THROTTLE);
  page.frames = []; // {step, code, captured, at, ms}
  page.screens = []; // {name, at}
  page.hosts = new Set(); // every host the page asked anything of
  page.weight = 0; // bytes of the page's own files (not its API calls)
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.protocol === "http:" || u.protocol === "https:") page.hosts.add(u.host);
  });
  page.on("requestfinished", async (req) => {
    const u = new URL(req.url());
    if (!u.pathname.startsWith("/flow/") || u.pathname.startsWith("/flow/api/")) return;
    const sizes = await req.sizes().catch(() => null);
    if (sizes) page.weight += sizes.responseBodySize + sizes.responseHeadersSize;
  });
  page.on("pageerror", (e) => result.log.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    // The 4xx answers the test provokes (a used link, a denied camera,
    // a frame refused while the page moves on) are logged by Chromium as
    // failed loads; the page's own warnings are its business.
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of (4\d\d|503)/.test(m.text())) {
      result.log.push(`${who}: console error: ${m.text()}`);
    }
  });
  page.on("requestfinished", async (req) => {
    if (!req.url().includes("/flow/api/frame")) return;
    const tm = req.timing();
    if (tm.responseEnd > 0 && tm.requestStart >= 0) result.frames_ms.push(tm.responseEnd - tm.requestStart);
  });
  page.on("response", async (resp) => {
    const u = new URL(resp.url());
    if (u.pathname !== "/flow/api/frame" || resp.request().method() !== "POST") return;
    const at = Date.now();
    try {
      const j = await resp.json();
      page.frames.push({ step: u.searchParams.get("step"), code: j?.overlay?.messages?.[0]?.code ?? "", text: j?.overlay?.messages?.[0]?.text ?? "",
        captured: !!j?.captured, status: resp.status(), at });
    } catch {
      page.frames.push({ step: u.searchParams.get("step"), code: "", captured: false, status: resp.status(), at });
    }
  });
  await page.exposeBinding("__e2eScreen", (_src, name) => page.screens.push({ name, at: Date.now() }));
  // The camera a getUserMedia asks for, before it opens: the front one
  // (facingMode user) sees the face, any other the card.
  await followCamera(page, ctx.camera);
  await page.addInitScript(() => {
    const watch = () => {
      let last = "";
      new MutationObserver(() => {
        const s = document.body.dataset.screen || "";
        if (s !== last) {
          last = s;
          window.__e2eScreen(s);
        }
      }).observe(document.body, { attributes: true, attributeFilter: ["data-screen"] });
    };
    if (document.body) watch();
    else document.addEventListener("DOMContentLoaded", watch);
  });
  return page;
}

// start opens a launch or phone link as a person does: the landing page,
// which changes nothing (link previews and mail scanners fetch it too),
// then its Start button, which binds this browser and leads to /flow/app.
// atLanding, if given, runs on the landing page before Start. It returns
// the link's answer and, when the link offered Start, the answer Start
// led to (the page's, its request redirected from Start's POST).
async function start(page, link, atLanding) {
  step(`${page.who}: opening ${link.includes("/flow/h/") ? "the phone link" : "the launch link"}`);
  const landing = await page.goto(link, { waitUntil: "load" });
  if (landing.status() !== 200) return { landing };
  await atLanding?.(page);
  const [app] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("#begin")]);
  return { landing, app };
}

const screenSel = (...names) => names.map((n) => `body[data-screen="${n}"]`).join(", ");

// waitScreen waits for one of the screens and returns its name, or
// "partner" when the page left for the partner's site (EXIT redirects at
// once, its screen only flashes).
async function waitScreen(page, names, timeout = 90_000) {
  step(`${page.who}: waiting for ${names.join("|")}`);
  try {
    const left = page.waitForURL((u) => u.href.startsWith(`${site}/`), { timeout, waitUntil: "commit" }).then(() => "partner");
    const shown = page.waitForSelector(screenSel(...names), { timeout, state: "attached" }).then(() => "screen");
    const how = await Promise.race([left, shown]);
    left.catch(() => {});
    shown.catch(() => {});
    if (how === "partner") return "partner";
  } catch (e) {
    throw new Error(`${page.who}: screen ${names.join("|")} not reached within ${timeout} ms (${await where(page)})`);
  }
  return page.evaluate(() => document.body.dataset.screen);
}

// leave waits for the page to leave screen s.
async function leave(page, s, timeout = 90_000) {
  try {
    await page.waitForSelector(`body:not([data-screen="${s}"])`, { timeout, state: "attached" });
  } catch (e) {
    throw new Error(`${page.who}: still on ${s} after ${timeout} ms (${await where(page)})`);
  }
}

// where tells what a page that is not getting on shows: its screen and
// its last guidance frames (step:code, * captured, HTTP status, the gap
// since the frame before), for a timeout's message.
async function where(page) {
  const now = await page.evaluate(() => document.body?.dataset.screen ?? "").catch(() => "?");
  const last = page.frames.slice(-10);
  const codes = last.map((f, i) => `${f.step}:${f.code}${f.captured ? "*" : ""}(${f.status}${i > 0 ? ` +${f.at - last[i - 1].at}ms` : ""})`).join(" ");
  return `showing ${now}; ${page.frames.length} frames answered; last ${codes}`;
}

// state is the session's state as the page's own cookie gets it.
async function state(page) {
  const r = await page.request.get(new URL("/flow/api/state", base).href, { headers: { Accept: "application/json" } });
  if (!r.ok()) throw new Error(`${page.who}: GET /flow/api/state: ${r.status()} ${await r.text()}`);
  return r.json();
}

const other = (size) => (size === "phone" ? "desktop" : "phone");
// checkA11y runs axe-core's WCAG 2.1 A and AA rules on the page as it
// stands. A page that navigates meanwhile (EXIT leaves for the partner at
// once) has nothing left to check: that is recorded, not failed.
async function checkA11y(page, name, size) {
  if (!axePath) return;
  try {
    const r = await runAxe(page, axePath, { tags: wcag21aa });
    result.axe.push({ page: name, size, ...r });
  } catch (e) {
    if (!/Execution context was destroyed|navigat/i.test(String(e?.message))) throw e;
    result.axe.push({ page: name, size, passes: 0, violations: [], error: String(e.message).split("\n")[0] });
  }
}

let shotN = 0;
// shot saves the page at its context's size and, with both, at the other
// size too (the viewport resized and put back): a page reached once is
// still seen on a phone and on a desktop. Each size is also checked with
// axe-core.
async function shot(page, name, { both = true } = {}) {
  shotN++;
  const size = page.context().size;
  const save = async (sz) => {
    const file = `${sz}-${String(shotN).padStart(2, "0")}-${name}.png`;
    await screenshot(page, { path: join(shots, file), fullPage: true });
    result.shots.push(file);
    await checkA11y(page, name, sz);
  };
  await save(size);
  if (both) {
    await page.setViewportSize(sizes[other(size)].viewport);
    // Wait for the layout at the new size (two frames).
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await save(other(size));
    await page.setViewportSize(sizes[size].viewport);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  }
}

// The words a result message must never say: the generic message never
// names the fraud signal behind a refusal.
const signalWords = /face.?match|liveness|spoof|deep.?fake|fraud|sanction|watch.?list|\bpep\b|tamper|forg|screen.?attack|replay|injection|mismatch|similar/i;

// ended says a result screen or the partner's site ends the flow: the
// engine's STATUS shows the success or error screen with its call to
// action, its EXIT sends the person back to the partner at once (the
// "exit" screen only flashes).
const ended = (end) => ["success", "error", "exit", "leaving", "partner"].includes(end);

// backToPartner follows the flow's end to the partner's redirect_url: the
// call to action of a STATUS screen, or the redirect EXIT made already;
// it returns the redirect's query.
async function backToPartner(page, end) {
  if (end === "success" || end === "error") {
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${site}/done`), { timeout: 30_000 }), page.click("#cta")]);
  } else {
    await page.waitForURL((u) => u.href.startsWith(`${site}/done`), { timeout: 30_000 });
  }
  return new URL(page.url()).searchParams;
}

// decision is the engine's decision on the session's attempt, as the
// partner's webhook tells it.
async function decision(sessionID, attempt) {
  const ev = await ask("webhook", { session_id: sessionID, type: "submission.completed", attempt });
  return { ev, decision: ev?.data?.decision, detail: `decision ${ev?.data?.decision}, reasons ${JSON.stringify(ev?.data?.reason_codes)}, score ${ev?.data?.score}` };
}

// capture runs a session's capture steps from where the page stands until
// its result screen, with screenshots of each screen (the capture screens
// at the context's size only: their live preview cannot wait for a
// resize), and returns the result screen's name.
async function captureToResult(page, label, { shootCapture = true, keyboard = false } = {}) {
  const seen = new Set();
  for (;;) {
    const s = await waitScreen(page, ["intro", "capture-document", "capture-back", "capture-selfie", "processing", "success", "error", "retry", "exit", "leaving",
      "done", "camera-denied", "camera-missing", "camera-error", "unavailable", "expired"]);
    if (["success", "error", "retry", "exit", "leaving", "partner", "done"].includes(s)) return s;
    if (["camera-denied", "camera-missing", "camera-error", "unavailable", "expired"].includes(s)) {
      throw new Error(`${label}: the page shows ${s} during the capture`);
    }
    if (seen.has(s) && s !== "processing") {
      // The same screen again means it was redrawn; wait for another.
      await leave(page, s);
      continue;
    }
    seen.add(s);
    if (s === "intro") {
      if (shootCapture) await shot(page, `${label}-intro`);
      await page.click("#start");
      await leave(page, "intro", 30_000);
      continue;
    }
    if (s.startsWith("capture-")) {
      if (keyboard && s === "capture-document") await captureA11y(page, label);
      if (shootCapture) {
        // The moment worth showing: the guide satisfied, the capture
        // under way (a few frames before it is taken).
        await page.waitForSelector('#guidance[data-code="capturing"]', { timeout: 90_000 }).catch(() => {});
        if ((await page.evaluate(() => document.body.dataset.screen)) === s) await shot(page, `${label}-${s}`, { both: false });
      }
      await leave(page, s);
      continue;
    }
    if (s === "processing") {
      if (shootCapture) await shot(page, `${label}-processing`, { both: false }).catch(() => {});
      await leave(page, "processing", 60_000);
    }
  }
}

// captureA11y: on a capture screen, the guidance that changes as the
// person moves is a polite live region (screen readers announce it), and a
// person who cannot frame the card by sight reaches the manual capture with
// one Tab at once, not only once the guide has had its few seconds.
async function captureA11y(page, label) {
  const live = await page.evaluate(() => {
    const g = document.getElementById("guidance");
    return { role: g?.getAttribute("role"), live: g?.getAttribute("aria-live"), atomic: g?.getAttribute("aria-atomic") };
  });
  check(`${label}: the capture's guidance is announced (role status, aria-live polite, atomic)`,
    live.role === "status" && live.live === "polite" && live.atomic === "true", JSON.stringify(live));
  await page.keyboard.press("Tab");
  const got = await page.evaluate(() => ({ id: document.activeElement?.id ?? "", text: document.activeElement?.textContent ?? "", screen: document.body.dataset.screen }));
  check(`${label}: on a capture screen, Tab reaches the manual capture at once`, got.id === "manual-capture" && got.text.trim() === en.take_photo,
    JSON.stringify(got));
}

// latency records the time from the page receiving its last capture (the
// frame answer that captured) to the result screen appearing.
function latency(page, scenario) {
  const res = [...page.screens].reverse().find((s) => ["success", "error", "retry", "exit", "done"].includes(s.name));
  const cap = [...page.frames].reverse().find((f) => f.captured && (!res || f.at <= res.at));
  if (res && cap) result.capture_to_result.push({ scenario, ms: res.at - cap.at });
  const fr = page.frames.filter((f) => f.status === 200);
  if (fr.length > 1) result.sessions.push({ scenario, frames: fr.length, seconds: (fr[fr.length - 1].at - fr[0].at) / 1000 });
}

// --- scenarios -----------------------------------------------------------------------

const browsers = {};
async function browser(name) {
  if (!browsers[name]) {
    const spec = { genuine: ["genuine", {}], other: ["other", {}], still: ["still", {}], nocamera: ["", {}], denied: ["genuine", { fakeUI: false }] }[name];
    browsers[name] = await launch(name, ...spec);
  }
  return browsers[name];
}

// genuine: the card's person on a phone, approved; the call to action, the
// webhook, the launch link a second time, the finished session.
async function genuine() {
  const fc = await newFlow("e2e-genuine", { max_retries: 3 });
  await ask("cpu", { mark: "genuine" });
  const ctx = await newContext(await browser("genuine"), "phone");
  const page = await newPage(ctx, "genuine");
  const { landing, app } = await start(page, fc.launch_url, async (p) => {
    const h1 = ((await p.textContent("h1")) ?? "").trim();
    const button = ((await p.textContent("#begin").catch(() => "")) ?? "").trim();
    check("genuine: the launch link shows the landing page with its Start button, and sets no cookie yet",
      h1 === "Verify your identity" && button === "Start" && !(await ctx.cookies()).some((c) => c.name.endsWith("kyc_flow")), `${h1} / ${button}`);
    const who = ((await p.textContent("#requester").catch(() => "")) ?? "").trim();
    check("genuine: the landing page names the partner asking", / asks you to verify your identity\. Continue only if /.test(who), who);
    await shot(p, "genuine-landing");
  });
  check("genuine: the launch link answers 200", landing.status() === 200, landing.status());
  const first = app?.request().redirectedFrom();
  check("genuine: Start posts to the link, which answers 303 to /flow/app",
    first?.method() === "POST" && (await first.response())?.status() === 303 && new URL(page.url()).pathname === "/flow/app",
    `${first?.method()} ${(await first?.response())?.status()} -> ${page.url()}`);
  const cookies = await ctx.cookies();
  const ck = cookies.find((c) => c.name === "__Host-kyc_flow");
  // The session has the partner's redirect_url, so the partner may frame
  // it: its cookie is SameSite=None (partitioned; embed.mjs runs it framed).
  // Chromium keeps a __Host- cookie only if Secure, Path=/ and host-only.
  check("genuine: the session cookie is __Host-, HttpOnly, Secure, SameSite=None, Path=/, host-only, and the only one",
    ck && ck.httpOnly && ck.secure && ck.sameSite === "None" && ck.path === "/" && !ck.domain.startsWith(".") &&
      cookies.filter((c) => c.name.endsWith("kyc_flow")).length === 1, JSON.stringify(cookies));
  // A browser holding this session's cookie under the name of before the
  // upgrade (kyc_flow, Path=/flow/, the same partition) is refused: the
  // session was created after central started, which never set it one
  // (TestLegacyCookieMoved moves one of a session older than the instance).
  const legacyCtx = await newContext(await browser("genuine"), "phone", { camera: false });
  await legacyCtx.addCookies([{ ...ck, name: "kyc_flow", path: "/flow/" }]);
  const legacyPage = await legacyCtx.newPage();
  const legacyState = await legacyPage.goto(new URL("/flow/api/state", base).href);
  const moved = (await legacyCtx.cookies()).filter((c) => c.name.endsWith("kyc_flow"));
  check("genuine: the legacy cookie of a session newer than central is refused, and not moved",
    legacyState.status() === 401 && moved.length === 1 && moved[0].name === "kyc_flow", `${legacyState.status()} ${JSON.stringify(moved)}`);
  await legacyCtx.close();
  const csrf = await page.getAttribute("html", "data-csrf");
  check("genuine: the page carries its CSRF token", !!csrf && csrf.length >= 16, csrf);
  // A POST without the CSRF header is refused.
  await waitScreen(page, ["intro"], 30_000);
  await page.waitForLoadState("networkidle");
  check("genuine: the page's files weigh under 300 KB before any camera frame", page.weight > 0 && page.weight < 300 * 1024, `${page.weight} bytes`);
  process.stdout.write(`genuine: page weight ${page.weight} bytes\n`);
  const nocsrf = await page.request.post(new URL("/flow/api/submit", base).href);
  check("genuine: a POST without X-Flow-CSRF is refused", nocsrf.status() === 403 || nocsrf.status() === 401, nocsrf.status());

  const end = await captureToResult(page, "genuine");
  latency(page, "genuine");
  const hosts = [...page.hosts].filter((h) => h !== new URL(base).host && h !== new URL(site).host);
  check("genuine: the flow asks no other host than central (and the partner's redirect)", hosts.length === 0, hosts.join(", "));
  const cpu = await ask("cpu", { end: "genuine" });
  const st = await state(page);
  check("genuine: the flow completes (COMPLETED with STATUS or EXIT)", ended(end) && st.status === "COMPLETED" && ["STATUS", "EXIT"].includes(st.next_action),
    `screen ${end}, ${JSON.stringify({ next_action: st.next_action, status: st.status, error_code: st.error_code, message: st.message })}`);
  const d = await decision(fc.session_id, 1);
  check("genuine: the partner's webhook received submission.completed", d.ev?.type === "submission.completed", JSON.stringify(d.ev));
  check("genuine: the engine approved the genuine person (the webhook's decision)", d.decision === "approve", d.detail);
  const docFrames = page.frames.filter((f) => f.step === "document");
  check("genuine: the document guide answered in English and refused some frames before capturing",
    docFrames.some((f) => f.captured) && docFrames.some((f) => !f.captured && f.code && f.code !== "capturing") && docFrames.every((f) => !f.text || /^[\x20-\x7e…]+$/.test(f.text)),
    JSON.stringify(docFrames.map((f) => [f.code, f.text, f.captured])));
  const selfieFrames = page.frames.filter((f) => f.step === "selfie");
  check("genuine: the selfie guide captured", selfieFrames.some((f) => f.captured), JSON.stringify(selfieFrames.map((f) => [f.code, f.captured])));
  if (end === "success") {
    check("genuine: the success screen says so", (await page.textContent("h1"))?.trim() === en.success_title, await page.textContent("h1"));
    await shot(page, "genuine-success");
  }
  const ps = await ask("status", { session_id: fc.session_id });
  check("genuine: the partner sees COMPLETED", ps.status === "COMPLETED" && ps.next_action === st.next_action, JSON.stringify(ps));
  process.stdout.write(`genuine: central CPU for the session ${cpu.ms} ms\n`);

  // The partner's redirect with the result (the call to action of STATUS,
  // or EXIT's own).
  step("genuine: back to the partner");
  const q = await backToPartner(page, end);
  check("genuine: the flow returns to redirect_url with status COMPLETED and the session id",
    q.get("status") === "COMPLETED" && q.get("session_id") === fc.session_id && !q.get("error_code"), page.url());

  // The launch link again, in another browser: already used.
  step("genuine: the launch link a second time");
  const ctx2 = await newContext(await browser("genuine"), "desktop");
  const p2 = await newPage(ctx2, "genuine-again");
  const again = await p2.goto(fc.launch_url, { waitUntil: "load" });
  const body = (await p2.textContent("body")) ?? "";
  check("genuine: the launch link opened again in another browser: 410, \"already used\"", again.status() === 410 && /already used/i.test(body),
    `${again.status()} ${body.slice(0, 200)}`);
  await shot(p2, "link-already-used");
  await ctx2.close();

  // The finished session in its own browser.
  step("genuine: the finished session");
  await page.goto(new URL("/flow/app", base).href, { waitUntil: "load" });
  const s = await waitScreen(page, ["done", "success", "error"], 30_000);
  check("genuine: the finished session shows its end, not the capture", ["done", "success", "error"].includes(s), s);
  await shot(page, `finished-${s}`);
  const resubmit = await page.request.post(new URL("/flow/api/submit", base).href, { headers: { "X-Flow-CSRF": await page.getAttribute("html", "data-csrf") } });
  check("genuine: a finished session refuses a new submit (409 or 410)", resubmit.status() === 409 || resubmit.status() === 410, resubmit.status());
  await ctx.close();
}

// rejected: another person in front of the card, one attempt allowed, on
// a desktop: the engine rejects and the flow ends.
async function rejected() {
  const fc = await newFlow("e2e-rejected", { max_retries: 1 });
  await ask("cpu", { mark: "rejected" });
  const ctx = await newContext(await browser("other"), "desktop");
  const page = await newPage(ctx, "rejected");
  await start(page, fc.launch_url);
  const end = await captureToResult(page, "rejected", { keyboard: true });
  latency(page, "rejected");
  await ask("cpu", { end: "rejected" });
  const st = await state(page);
  // The flow ends (no retry left): COMPLETED, its result the engine's
  // reject (status ERROR is for a flow that failed, with error_code).
  check("rejected: another face with no retry left ends the flow (STATUS or EXIT, not RETRY)",
    ended(end) && st.next_action !== "RETRY" && ["COMPLETED", "ERROR"].includes(st.status),
    `screen ${end}, ${JSON.stringify({ next_action: st.next_action, status: st.status, error_code: st.error_code })}`);
  const d = await decision(fc.session_id, 1);
  check("rejected: the engine rejected the other face (the webhook's decision)", d.decision === "reject", d.detail);
  check("rejected: the message names no fraud signal", !signalWords.test(st.message ?? ""), st.message);
  if (end === "success" || end === "error") {
    const msg = (await page.textContent("#result-message").catch(() => "")) ?? "";
    check("rejected: the result screen's message names no fraud signal", !signalWords.test(msg), msg);
    await shot(page, `rejected-${end}`);
  }
  const q = await backToPartner(page, end);
  check("rejected: the flow returns to the partner with its status and the session id",
    q.get("status") === st.status && q.get("session_id") === fc.session_id, page.url());
  const ps = await ask("status", { session_id: fc.session_id });
  check("rejected: the partner sees the session ended, not RETRY", ps.status === st.status && ps.next_action === st.next_action, JSON.stringify(ps));
  await ctx.close();
}

// retry: another face first (RETRY, the generic message), the retry taken,
// then the right person: approved on the second attempt. The cameras of a
// browser show one person, so the second attempt continues in a browser
// whose camera shows the card's person, with the first one's cookies (the
// same session, as a person switching to a better camera).
async function retry() {
  const fc = await newFlow("e2e-retry", { max_retries: 3 });
  const ctx = await newContext(await browser("other"), "phone");
  const page = await newPage(ctx, "retry-1");
  await start(page, fc.launch_url);
  const end = await captureToResult(page, "retry", { shootCapture: false });
  latency(page, "retry-attempt-1");
  let st = await state(page);
  check("retry: another face with retries left: RETRY", end === "retry" && st.next_action === "RETRY" && !!st.retry_step,
    `screen ${end}, ${JSON.stringify({ next_action: st.next_action, retry_step: st.retry_step, status: st.status, attempt: st.attempt })}`);
  if (end !== "retry") return ctx.close();
  const msg = (await page.textContent("#result-message")) ?? "";
  check("retry: the generic message names no fraud signal", !!msg.trim() && !signalWords.test(msg), msg);
  check("retry: the retry screen says so", (await page.textContent("h1"))?.trim() === en.retry_title, await page.textContent("h1"));
  await shot(page, "retry");
  const ps = await ask("status", { session_id: fc.session_id });
  check("retry: the partner sees the session in progress with RETRY", ps.next_action === "RETRY" && ps.status !== "COMPLETED", JSON.stringify(ps));

  // This browser's camera must not capture again: its frames are put off
  // as central puts off too many (429, the page waits and sends the next);
  // an aborted request would be logged as a page error.
  await ctx.route("**/flow/api/frame*", (r) => r.fulfill({ status: 429, contentType: "application/json", body: '{"code":"rate_limited"}' }));
  await page.click("#retry");
  const back = await waitScreen(page, ["capture-document", "capture-back", "capture-selfie", "intro"], 30_000);
  // retry_step is the engine's: selfie, document, new_document or all
  // (everything again, from the document).
  const want = st.retry_step === "selfie" ? "capture-selfie" : "capture-document";
  check("retry: taking the retry goes back to the step that failed", back === want, `${back}, retry_step ${st.retry_step}`);
  const storageState = await ctx.storageState();
  await ctx.close();

  const ctx2 = await newContext(await browser("genuine"), "phone", { storageState });
  const p2 = await newPage(ctx2, "retry-2");
  await p2.goto(new URL("/flow/app", base).href, { waitUntil: "load" });
  const end2 = await captureToResult(p2, "retry-2", { shootCapture: false });
  latency(p2, "retry-attempt-2");
  st = await state(p2);
  check("retry: the second attempt completes the flow", ended(end2) && st.status === "COMPLETED" && st.attempt === 2,
    `screen ${end2}, ${JSON.stringify({ next_action: st.next_action, status: st.status, attempt: st.attempt, error_code: st.error_code })}`);
  const d1 = await decision(fc.session_id, 1);
  const d2 = await decision(fc.session_id, 2);
  check("retry: the engine rejected the first attempt and approved the second", d1.decision === "reject" && d2.decision === "approve",
    `1: ${d1.detail}; 2: ${d2.detail}`);
  await ctx2.close();
}

// handoff: Smart QR from a computer without a camera to a phone; the
// computer's page follows to the result.
async function handoff() {
  const fc = await newFlow("e2e-handoff", { smart_qr: true, max_retries: 3 });
  const ctx = await newContext(await browser("nocamera"), "desktop");
  const page = await newPage(ctx, "handoff-desktop");
  const handoffResp = page.waitForResponse((r) => new URL(r.url()).pathname === "/flow/api/handoff", { timeout: 60_000 });
  await start(page, fc.launch_url);
  let h;
  try {
    const r = await handoffResp;
    if (r.status() === 404) throw new Skipped("POST /flow/api/handoff answers 404");
    h = await r.json();
  } catch (e) {
    if (e instanceof Skipped) throw e;
    throw new Error(`the page of a computer without a camera did not start the hand-off: ${e.message}`);
  }
  await waitScreen(page, ["handoff"], 30_000);
  await page.waitForSelector("#qr svg");
  check("handoff: a computer without a camera shows the QR code and the short code",
    (await page.locator("#qr svg").count()) === 1 && ((await page.textContent("#short-code")) ?? "").trim() === h.short_code && !!h.short_code,
    JSON.stringify({ short_code: h.short_code, url: h.url }));
  check("handoff: the phone link is central's own", typeof h.url === "string" && h.url.startsWith(`${base}/flow/h/`), h.url);
  await shot(page, "handoff-qr");

  const phoneCtx = await newContext(await browser("genuine"), "phone");
  const phone = await newPage(phoneCtx, "handoff-phone");
  await start(phone, h.url);
  check("handoff: the phone link opens the flow", new URL(phone.url()).pathname === "/flow/app", phone.url());
  // The first page learns the phone took over.
  await page.waitForFunction((text) => document.getElementById("handoff-status")?.textContent === text, en.handoff_active, { timeout: 30_000 })
    .then(() => check("handoff: the computer's page says the phone has the session", true))
    .catch((e) => check("handoff: the computer's page says the phone has the session", false, e.message));
  await shot(page, "handoff-following");
  const end = await captureToResult(phone, "handoff-phone", { shootCapture: false });
  latency(phone, "handoff-phone");
  const pst = await state(phone);
  // The phone ends on a result screen, or on "finished" when EXIT's
  // callback is the computer's to send (the partner's page is there).
  check("handoff: the phone's capture completes the flow", (ended(end) || end === "done") && pst.status === "COMPLETED", `${end} ${JSON.stringify(pst)}`);
  if (end === "done") await shot(phone, "handoff-phone-done", { both: false });
  const d = await decision(fc.session_id, 1);
  check("handoff: the engine approved the phone's captures", d.decision === "approve", d.detail);
  // The computer's page follows to the result: STATUS's screen, or EXIT's
  // callback to the partner (whose front end is on the computer), not
  // merely "finished".
  const firstEnd = await waitScreen(page, ["success", "error", "retry", "exit", "leaving", "done"], 30_000);
  latency(page, "handoff-first-page");
  check("handoff: the computer's page follows to the result (STATUS's screen or EXIT's callback)", ended(firstEnd),
    `${firstEnd}: ${(await page.textContent("h1").catch(() => "")) ?? ""} (the phone's next action ${pst.next_action})`);
  if (["success", "error", "done"].includes(firstEnd)) await shot(page, `handoff-result-desktop-${firstEnd}`, { both: false });
  if (end === "success" || end === "error") await shot(phone, "handoff-result-phone", { both: false });
  if (ended(firstEnd)) {
    const q = await backToPartner(page, firstEnd);
    check("handoff: the computer's page returns to the partner with the result", q.get("status") === "COMPLETED" && q.get("session_id") === fc.session_id, page.url());
  }
  // The phone link a second time: used.
  const ctx3 = await newContext(await browser("genuine"), "phone");
  const p3 = await newPage(ctx3, "handoff-again");
  const again = await p3.goto(h.url, { waitUntil: "load" });
  check("handoff: the phone link is single-use", again.status() === 410 || again.status() === 404, again.status());
  await Promise.all([ctx.close(), phoneCtx.close(), ctx3.close()]);
}

// cameraOutcome waits until the capture screen knows whether it has a
// camera: a camera-* screen, or guidance coming back (frames flow).
async function cameraOutcome(page) {
  step(`${page.who}: waiting for the camera`);
  await page.waitForSelector('body[data-screen^="camera-"], #guidance[data-code]', { timeout: 30_000, state: "attached" });
  return page.evaluate(() => document.body.dataset.screen);
}

// denied: the camera refused, on an Indonesian phone: the page says what to
// do, in Indonesian. missing: no camera at all, on a desktop.
async function denied() {
  const fc = await newFlow("e2e-denied", { max_retries: 3 });
  const ctx = await newContext(await browser("denied"), "phone", { locale: "id-ID", camera: false });
  const page = await newPage(ctx, "denied");
  // The person said no: the camera permission is denied for the site.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Browser.setPermission", { permission: { name: "camera" }, setting: "denied", origin: new URL(base).origin });
  await start(page, fc.launch_url);
  await waitScreen(page, ["intro"], 30_000);
  check("denied: an Indonesian browser gets the page in Indonesian", ((await page.textContent("#start")) ?? "").trim() === id.start, await page.textContent("#start"));
  check("denied: the Indonesian page is marked so (html lang=\"id\"), the switch to English as English",
    (await page.getAttribute("html", "lang")) === "id" && (await page.getAttribute("#lang", "lang")) === "en", await page.getAttribute("html", "lang"));
  await page.click("#start");
  const s = await cameraOutcome(page);
  check("denied: a refused camera shows the camera-denied page", s === "camera-denied", s);
  check("denied: it says what to do, in Indonesian",
    ((await page.textContent("h1")) ?? "").trim() === id.camera_denied_title && ((await page.textContent("#camera-problem")) ?? "").trim() === id.camera_denied_text,
    `${await page.textContent("h1")} / ${await page.textContent("#camera-problem").catch(() => "")}`);
  await shot(page, "camera-denied-id");
  // The upload fallback, where the session allows it: photos of the card
  // and of the face, as a phone's camera app takes them.
  const st = await state(page);
  if (!st.allow_upload) {
    check("denied: no upload offered when the session does not allow it", (await page.locator("#upload-document").count()) === 0);
  } else if (uploads.document && uploads.selfie) {
    step("denied: uploading photos instead");
    await page.setInputFiles("#upload-document", uploads.document);
    // The selfie step asks for the camera again, is refused again, and
    // offers its own upload.
    await page.waitForSelector("#upload-selfie", { timeout: 30_000, state: "attached" });
    await shot(page, "camera-denied-upload-selfie-id", { both: false });
    if (uploads.selfieTooBig) {
      // A selfie over the face engine's bound (4096x4096): the page says
      // so, in the person's language, and the upload can be tried again.
      await page.setInputFiles("#upload-selfie", uploads.selfieTooBig);
      await page.waitForFunction(() => document.getElementById("flow-error")?.textContent && !document.getElementById("upload-selfie")?.disabled,
        null, { timeout: 30_000 });
      const msg = ((await page.textContent("#flow-error")) ?? "").trim();
      check("denied: a selfie of too many pixels is refused with what to do, in Indonesian", msg === id.too_many_pixels, msg);
      await shot(page, "upload-too-many-pixels-id", { both: false });
    }
    await page.setInputFiles("#upload-selfie", uploads.selfie);
    const end = await waitScreen(page, ["success", "error", "retry", "exit", "leaving"], 60_000);
    const after = await state(page);
    check("denied: the uploaded photos are verified: the flow completes", ended(end) && after.status === "COMPLETED",
      `${end} ${JSON.stringify({ status: after.status, next_action: after.next_action, error_code: after.error_code })}`);
    const d = await decision(fc.session_id, 1);
    // An uploaded selfie may be any photo of the person: never approved
    // without a reviewer.
    check("denied: the uploaded photos of the genuine person go to review (SELFIE_UPLOADED), not approved",
      d.decision === "review" && (d.ev?.data?.reason_codes ?? []).includes("SELFIE_UPLOADED"), d.detail);
    if (end === "success") {
      check("denied: the result is in Indonesian", ((await page.textContent("h1")) ?? "").trim() === id.success_title, await page.textContent("h1"));
      await shot(page, "upload-success-id");
    }
  }
  await ctx.close();

  const fc2 = await newFlow("e2e-missing", { max_retries: 3 });
  const ctx2 = await newContext(await browser("nocamera"), "desktop");
  const p2 = await newPage(ctx2, "missing");
  await start(p2, fc2.launch_url);
  await waitScreen(p2, ["intro"], 30_000);
  await p2.click("#start");
  const s2 = await cameraOutcome(p2);
  check("missing: a computer without a camera shows the camera-missing page", s2 === "camera-missing" && ((await p2.textContent("h1")) ?? "").trim() === en.camera_missing_title,
    `${s2}: ${await p2.textContent("h1")}`);
  await shot(p2, "camera-missing");
  await ctx2.close();
}

// handoffCode: the short code typed on a phone without a QR scanner, at
// /flow/code: a wrong code is refused with a page, the right one binds the
// phone and the computer's page learns it.
async function handoffCode() {
  const fc = await newFlow("e2e-handoff-code", { smart_qr: true });
  const ctx = await newContext(await browser("nocamera"), "desktop");
  const page = await newPage(ctx, "code-desktop");
  const handoffResp = page.waitForResponse((r) => new URL(r.url()).pathname === "/flow/api/handoff", { timeout: 60_000 });
  await start(page, fc.launch_url);
  const h = await (await handoffResp).json();
  await waitScreen(page, ["handoff"], 30_000);
  const phoneCtx = await newContext(await browser("genuine"), "phone");
  const phone = await newPage(phoneCtx, "code-phone");
  await phone.goto(new URL("/flow/code", base).href, { waitUntil: "load" });
  await shot(phone, "handoff-code-form");
  const wrong = h.short_code === "ZZZZZZZZ" ? "YYYYYYYY" : "ZZZZZZZZ";
  await phone.fill("#code", wrong);
  const [bad] = await Promise.all([phone.waitForNavigation({ waitUntil: "load" }), phone.press("#code", "Enter")]);
  check("handoff-code: a wrong short code is refused with a page", bad.status() === 404 && (await phone.locator("#code").count()) === 1, bad.status());
  await shot(phone, "handoff-code-wrong");
  await phone.fill("#code", h.short_code.toLowerCase());
  await Promise.all([phone.waitForURL((u) => u.pathname === "/flow/app", { timeout: 30_000 }), phone.press("#code", "Enter")]);
  const s = await waitScreen(phone, ["intro", "capture-document"], 30_000);
  check("handoff-code: the right code (in lower case) opens the flow on the phone", s === "intro" || s === "capture-document", s);
  await page.waitForFunction((text) => document.getElementById("handoff-status")?.textContent === text, en.handoff_active, { timeout: 30_000 })
    .then(() => check("handoff-code: the computer's page says the phone has the session", true))
    .catch((e) => check("handoff-code: the computer's page says the phone has the session", false, e.message));
  const st = await state(page);
  check("handoff-code: the session's state names the phone", st.handoff?.active === true && st.handoff?.device === "phone", JSON.stringify(st.handoff));
  await Promise.all([ctx.close(), phoneCtx.close()]);
}

// links: a link fetched by a link preview first is still the person's; an
// unknown launch link; a link whose session expired before it was opened,
// and a session that expired while its page was open (both made at the
// start of the run with the shortest ttl, 60 s).
async function links() {
  const ctx = await newContext(await browser("nocamera"), "phone");
  const page = await newPage(ctx, "links");
  // A chat app's preview or a mail scanner fetches the link, without the
  // person's cookies, before the person taps it.
  step("links: a link preview fetches the launch link first");
  const fc = await newFlow("e2e-preview");
  const bot = await newContext(await browser("nocamera"), "desktop", { camera: false });
  const seen = await bot.request.get(fc.launch_url, { maxRedirects: 0 });
  check("links: the preview gets the landing page (200) and no cookie", seen.status() === 200 && !seen.headers()["set-cookie"], seen.status());
  const { app } = await start(page, fc.launch_url);
  check("links: the person opening the link after the preview starts the flow", app?.status() === 200 && new URL(page.url()).pathname === "/flow/app",
    `${app?.status()} ${page.url()}`);
  await waitScreen(page, ["intro"], 30_000);
  const late = await bot.request.get(fc.launch_url, { maxRedirects: 0 });
  check("links: once started, the link is refused to another browser (410)", late.status() === 410, late.status());
  const reload = await page.goto(fc.launch_url, { waitUntil: "load" });
  check("links: the person reloading the link goes on to the page", reload.status() === 200 && new URL(page.url()).pathname === "/flow/app",
    `${reload.status()} ${page.url()}`);
  await bot.close();

  const r = await page.goto(new URL("/flow/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH", base).href, { waitUntil: "load" });
  check("links: an unknown launch link answers 404 with a page", r.status() === 404 && ((await page.textContent("body")) ?? "").trim().length > 0, r.status());
  await shot(page, "link-unknown");
  await ctx.close();

  if (!expiring) return;
  step("links: waiting for the short sessions to expire");
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ps = await ask("status", { session_id: expiring.unopened.session_id });
    if (ps.status === "EXPIRED") break;
    if (Date.now() > deadline) throw new Error(`the 60 s session is still ${ps.status} after ${new Date(expiring.unopened.expires_at).toISOString()}`);
    await new Promise((res) => setTimeout(res, 1000)); // polling the partner API, once a second
  }
  const ctx2 = await newContext(await browser("nocamera"), "desktop");
  const p2 = await newPage(ctx2, "expired");
  const r2 = await p2.goto(expiring.unopened.launch_url, { waitUntil: "load" });
  check("links: an expired launch link answers 410 with a page saying so", r2.status() === 410 && /expired/i.test((await p2.textContent("body")) ?? ""),
    `${r2.status()} ${(await p2.textContent("body"))?.slice(0, 200)}`);
  await shot(p2, "link-expired");
  await ctx2.close();
  // The page of a session that expired while it was open, reloaded: the
  // app's expired screen, or central's page, must say it expired.
  const open = expiring.page;
  const ra = await open.goto(new URL("/flow/app", base).href, { waitUntil: "load" });
  let said = "";
  if (ra.status() === 200) {
    await waitScreen(open, ["expired", "done", "unavailable", "intro"], 30_000).catch(() => "");
    said = (await open.textContent("h1")) ?? "";
  } else {
    said = (await open.textContent("body")) ?? "";
  }
  check("links: a session that expired while its page was open says it expired", /expired/i.test(said),
    `${ra.status()}: ${said.trim().slice(0, 160)} (cookies left: ${(await expiring.ctx.cookies()).map((c) => c.name).join(",") || "none"})`);
  await shot(open, "session-expired");
  const frame = await open.request.post(new URL("/flow/api/frame?step=document", base).href,
    { headers: { "X-Flow-CSRF": expiring.csrf, "Content-Type": "image/jpeg" }, data: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) });
  check("links: an expired session refuses frames", [401, 409, 410].includes(frame.status()), frame.status());
  await expiring.ctx.close();
}

// expiring holds the sessions made with the shortest ttl when the run
// starts, for links() at its end: one never opened, one opened.
let expiring = null;
async function startExpiring() {
  const unopened = await newFlow("e2e-expired-link", { session_ttl: 60 });
  const opened = await newFlow("e2e-expired-open", { session_ttl: 60 });
  const ctx = await newContext(await browser("nocamera"), "phone");
  const page = await newPage(ctx, "expiring");
  await start(page, opened.launch_url);
  await waitScreen(page, ["intro"], 30_000);
  const csrf = await page.getAttribute("html", "data-csrf");
  // The page leaves its screen: it is opened again when the session is over.
  await page.goto("about:blank");
  expiring = { unopened, opened, ctx, page, csrf };
}

// pep: the card's holder on a PEP list central publishes meanwhile (run
// last: every card of the run is hers): the engine escalates, the page
// shows STATUS's screen (in review) with its call to action, which takes
// the person back to the partner.
async function pep() {
  await ask("publish-pep");
  const fc = await newFlow("e2e-pep", { max_retries: 3 });
  const ctx = await newContext(await browser("genuine"), "phone");
  const page = await newPage(ctx, "pep");
  await start(page, fc.launch_url);
  const end = await captureToResult(page, "pep", { shootCapture: false });
  latency(page, "pep");
  const st = await state(page);
  const d = await decision(fc.session_id, 1);
  check("pep: the engine escalates the listed person (the webhook's decision)", d.decision === "escalate", d.detail);
  check("pep: STATUS's screen, the session COMPLETED", end === "success" && st.next_action === "STATUS" && st.status === "COMPLETED",
    `${end} ${JSON.stringify({ next_action: st.next_action, status: st.status })}`);
  if (end === "success") {
    const msg = (await page.textContent("#result-message")) ?? "";
    check("pep: the screen says thank you, names no fraud signal, and offers its call to action",
      (await page.textContent("h1"))?.trim() === en.success_title && !signalWords.test(msg) && (await page.locator("#cta").count()) === 1, msg);
    await shot(page, "status-in-review");
    const q = await backToPartner(page, end);
    check("pep: the call to action returns to the partner with status COMPLETED and the session id",
      q.get("status") === "COMPLETED" && q.get("session_id") === fc.session_id, page.url());
  }
  await ctx.close();
}

// injected: the genuine person's photo fed to the camera as a still, as an
// attacker does with a virtual camera or Chromium's own fake capture: the
// passive liveness alone would pass the photo, but its frames repeat each
// other byte for byte, so the attempt is not approved: the person is asked
// for one more step, the head turns (FACE_FEED_SUSPECT).
async function injected() {
  const fc = await newFlow("e2e-injected", { max_retries: 3 });
  const ctx = await newContext(await browser("still"), "phone");
  const page = await newPage(ctx, "injected");
  await start(page, fc.launch_url);
  const end = await captureToResult(page, "injected", { shootCapture: false });
  const st = await state(page);
  const d = await decision(fc.session_id, 1);
  check("injected: a still photo as the camera is not approved", d.decision !== "approve" && (d.ev?.data?.reason_codes ?? []).includes("FACE_FEED_SUSPECT"), d.detail);
  check("injected: the person is asked for the head turns (a RETRY of the selfie with one more step)",
    end === "retry" && st.next_action === "RETRY" && st.retry_step === "selfie" && st.message_key === "liveness_challenge",
    `screen ${end}, ${JSON.stringify({ next_action: st.next_action, retry_step: st.retry_step, message_key: st.message_key })}`);
  await ctx.close();
}

const scenarios = { genuine, rejected, retry, handoff, handoffCode, denied, links, injected, pep };

try {
  if (!only.length || only.includes("links")) {
    step("starting the sessions that expire");
    await startExpiring().catch((e) => check("links: the short sessions start", false, e.stack ?? e));
  }
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) continue;
    step(`scenario ${name}`);
    try {
      await run();
    } catch (e) {
      if (e instanceof Skipped) {
        result.skipped.push({ scenario: name, reason: e.message });
      } else {
        check(`${name}: ran to its end`, false, `${result.step}: ${e.stack ?? e}`);
      }
    }
  }
} catch (e) {
  result.error = String(e.stack ?? e);
} finally {
  for (const b of Object.values(browsers)) await b.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
