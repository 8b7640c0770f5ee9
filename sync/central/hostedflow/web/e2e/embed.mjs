// The hosted flow embedded in a partner's page (issue 19 item 3), in
// headless Chromium with third-party cookies phased out (only partitioned
// ones are kept in a frame): the Go test sync/central/hostedflow/embed_test.go
// (TestEmbeddedInBrowser) serves the partner's page on http://localhost
// (another site than central's https://127.0.0.1) and runs this script,
// which prints one JSON line last: {"checks": [{name, pass, detail}],
// "shots": [...], "step": "...", "error": "..."}.
//
//   allowed   the partner's page frames the launch URL: the flow's page
//             loads in the frame with its session cookie (partitioned,
//             SameSite=None), the captures and the submit go through the
//             frame's own requests, the language switch answers in
//             Indonesian, and the result reaches the parent by
//             postMessage from central's origin with the session's status
//   refused   the same page on another origin (another port) frames a
//             second session: the browser refuses to render it
//             (frame-ancestors), and no message reaches that parent
//   expired   a third session, started in the partner's frame, expires
//             (the Go test moves central's clock): the page loaded again
//             shows it expired and tells the parent, status ERROR and
//             error_code session_expired, as any end
//
// A line "@@expire {}" asks the Go test to run every session's time out.
// Environment: KYC_PLAYWRIGHT, KYC_E2E_CHROMIUM, KYC_FLOW_URL (central),
// KYC_EMBED_PARTNER and KYC_EMBED_OTHER (the partner's page, allowed and
// not), KYC_EMBED_LAUNCH, KYC_EMBED_LAUNCH2 and KYC_EMBED_LAUNCH3 (three
// sessions' launch URLs; KYC_EMBED_SESSION3 the third's id),
// KYC_EMBED_DOCUMENT and KYC_EMBED_SELFIE (JPEG files), KYC_FLOW_SHOTS.
// Everything waits for a condition; nothing sleeps.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import { screenshot } from "../../../../../internal/browsertest/screenshot.mjs";

const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_FLOW_URL;
const partner = process.env.KYC_EMBED_PARTNER;
const other = process.env.KYC_EMBED_OTHER;
const shots = process.env.KYC_FLOW_SHOTS ?? "screenshots";
mkdirSync(shots, { recursive: true });
const result = { checks: [], shots: [], step: "", error: "" };
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });
const step = (s) => {
  result.step = s;
  process.stdout.write(`${s}\n`);
};

const sizes = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
};

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(request, arg = {}) {
  process.stdout.write(`@@${request} ${JSON.stringify(arg)}\n`);
  const { value, done } = await stdin.next();
  if (done) throw new Error(`no answer to ${request}`);
  const answer = JSON.parse(value);
  if (answer && answer.error) throw new Error(`${request}: ${answer.error}`);
  return answer;
}

const embedURL = (site, launch) => `${site}/embed?src=${encodeURIComponent(launch)}`;

let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      "--test-third-party-cookie-phaseout"],
  });
  const ctx = await browser.newContext({ ...sizes.desktop, ignoreHTTPSErrors: true, locale: "en-GB" });

  // --- allowed ---------------------------------------------------------------------
  step("allowed: the partner's page frames the launch URL");
  const page = await ctx.newPage();
  const consoleErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  await page.goto(embedURL(partner, process.env.KYC_EMBED_LAUNCH));
  const handle = await page.waitForSelector("#kyc");
  const frame = await handle.contentFrame();
  // The frame shows the link's landing page; Start in it posts from
  // central's own origin (the frame's), so the cross-site check lets it by.
  await frame.waitForSelector("#begin", { timeout: 30_000 });
  await Promise.all([frame.waitForURL((u) => u.pathname === "/flow/app", { timeout: 30_000 }), frame.click("#begin")]);
  await frame.waitForSelector("body[data-screen]", { state: "attached", timeout: 30_000 });
  check("the flow's page renders in the partner's frame", new URL(frame.url()).pathname === "/flow/app", frame.url());
  const screen = await frame.evaluate(() => document.body.dataset.screen);
  check("the frame's page has its session (not the no-session screen)", screen !== "no-session", `screen ${screen}`);

  for (const size of ["desktop", "phone"]) {
    await page.setViewportSize(sizes[size].viewport);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const file = `${size}-embedded-${screen}.png`;
    await screenshot(page, { path: join(shots, file), fullPage: true });
    result.shots.push(file);
  }

  // The frame's own requests (credentials same-origin: the partitioned
  // cookie) take the captures, as the page's upload does.
  step("allowed: captures and submit from the frame");
  const doc = readFileSync(process.env.KYC_EMBED_DOCUMENT).toString("base64");
  const selfie = readFileSync(process.env.KYC_EMBED_SELFIE).toString("base64");
  const sent = await frame.evaluate(async ({ doc, selfie }) => {
    const csrf = document.documentElement.dataset.csrf;
    const post = async (path, b64, type) => {
      const body = b64 ? Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) : null;
      const headers = { "X-Flow-CSRF": csrf };
      if (type) headers["Content-Type"] = type;
      const r = await fetch(`/flow/api/${path}`, { method: "POST", headers, body, credentials: "same-origin" });
      return r.status;
    };
    const out = [];
    out.push(await post("capture?step=document&source=upload", doc, "image/jpeg"));
    out.push(await post("capture?step=selfie&source=upload", selfie, "image/jpeg"));
    const r = await fetch("/flow/api/lang", { method: "POST", headers: { "X-Flow-CSRF": csrf, "Content-Type": "application/json" },
      body: JSON.stringify({ lang: "id" }), credentials: "same-origin" });
    out.push(r.status);
    out.push(await post("submit", null, null));
    return out;
  }, { doc, selfie });
  check("the frame's requests carry the session (captures, language, submit 200)", sent.every((s) => s === 200), JSON.stringify(sent));

  // The verification's result, as the frame's session reads it: its
  // message in the language switched to.
  step("allowed: waiting for the result");
  const st = await frame.evaluate(async () => {
    for (;;) {
      const r = await fetch("/flow/api/state", { credentials: "same-origin", cache: "no-store" });
      const s = await r.json();
      if (s.stage !== "processing") return s;
      await new Promise((res) => setTimeout(res, 200)); // the page's own polling pace
    }
  });
  check("the result's message is in the language switched to (Indonesian)", st.lang === "id" && /identitas|verifikasi|berhasil|wajah|dokumen/i.test(st.message ?? ""),
    `${st.lang}: ${st.message}`);
  check("the state names the partner's origin for the result", JSON.stringify(st.embed_origins) === JSON.stringify([partner]), JSON.stringify(st.embed_origins));

  // The page, loaded again, shows the result and ends: EXIT, or the
  // STATUS screen's call to action, posts the result to the parent.
  step("allowed: the result reaches the parent");
  await frame.evaluate(() => location.reload()).catch(() => {});
  const f2 = await (await page.waitForSelector("#kyc")).contentFrame();
  // EXIT posts at once (and the frame leaves for the redirect); STATUS
  // shows its screen first, whose call to action posts.
  const posted = page.waitForFunction(() => window.__messages.length > 0, null, { timeout: 90_000 }).then(() => "posted");
  const status = f2.waitForSelector('body[data-screen="success"], body[data-screen="error"]', { state: "attached", timeout: 90_000 }).then(() => "status");
  posted.catch(() => {});
  status.catch(() => {});
  const how = await Promise.race([posted, status]);
  const shown = how === "status" ? await f2.evaluate(() => document.body?.dataset.screen ?? "") : "";
  check("the page ends with EXIT or a STATUS screen", how === "posted" || shown === "success", `${how} ${shown}`);
  if (shown === "success" || shown === "error") {
    for (const size of ["desktop", "phone"]) {
      await page.setViewportSize(sizes[size].viewport);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const file = `${size}-embedded-${shown}.png`;
      await screenshot(page, { path: join(shots, file), fullPage: true });
      result.shots.push(file);
    }
    await f2.click("#cta");
  }
  await page.waitForFunction(() => window.__messages.length > 0, null, { timeout: 60_000 });
  const msgs = await page.evaluate(() => window.__messages);
  const m = msgs[0];
  check("one message reached the parent", msgs.length === 1, JSON.stringify(msgs));
  check("the message comes from central's origin", m.origin === new URL(base).origin, m.origin);
  check("the message is the flow's result", m.data?.type === "kyc.flow.result" && m.data?.status === "COMPLETED" && m.data?.session_id === process.env.KYC_EMBED_SESSION,
    JSON.stringify(m.data));
  check("no frame-ancestors refusal on the allowed origin", !consoleErrors.some((e) => /frame-ancestors/.test(e)), consoleErrors.join(" | "));

  // --- refused -------------------------------------------------------------------
  step("refused: another origin frames a session");
  const page2 = await ctx.newPage();
  const refused = new Promise((resolve) => {
    page2.on("console", (msg) => {
      if (/frame-ancestors/.test(msg.text())) resolve(msg.text());
    });
  });
  await page2.goto(embedURL(other, process.env.KYC_EMBED_LAUNCH2));
  const why = await Promise.race([refused, page2.waitForEvent("close", { timeout: 30_000 }).then(() => "")]).catch(() => "");
  check("the browser refuses the flow in a frame of another origin (frame-ancestors)", /frame-ancestors/.test(why), why || "no refusal reported");
  const rendered = page2.frames().some((fr) => fr.url().startsWith(`${base}/flow/app`) && fr !== page2.mainFrame());
  const inner = rendered ? await page2.frames().find((fr) => fr.url().startsWith(`${base}/flow/app`)).evaluate(() => document.body?.dataset.screen ?? "").catch(() => "") : "";
  check("nothing of the flow runs in the refused frame", inner === "", `screen ${inner}`);
  const msgs2 = await page2.evaluate(() => window.__messages.length);
  check("no message reached the other origin", msgs2 === 0, msgs2);
  const file = "desktop-embedded-refused.png";
  await screenshot(page2, { path: join(shots, file), fullPage: true });
  result.shots.push(file);

  // --- expired (last: every session's time runs out) ------------------------------
  step("expired: a session started in the frame expires");
  const page3 = await ctx.newPage();
  await page3.goto(embedURL(partner, process.env.KYC_EMBED_LAUNCH3));
  const frame3 = await (await page3.waitForSelector("#kyc")).contentFrame();
  await frame3.waitForSelector("#begin", { timeout: 30_000 });
  await Promise.all([frame3.waitForURL((u) => u.pathname === "/flow/app", { timeout: 30_000 }), frame3.click("#begin")]);
  await frame3.waitForSelector("body[data-screen]", { state: "attached", timeout: 30_000 });
  await ask("expire");
  await frame3.evaluate(() => location.reload()).catch(() => {});
  const f3 = await (await page3.waitForSelector("#kyc")).contentFrame();
  await f3.waitForSelector('body[data-screen="expired"]', { state: "attached", timeout: 30_000 });
  const told = await page3.waitForFunction(() => window.__messages.length > 0, null, { timeout: 10_000 }).then(() => true, () => false);
  const msgs3 = await page3.evaluate(() => window.__messages);
  const m3 = msgs3[0];
  check("the expired session tells its parent (one message)", told && msgs3.length === 1, JSON.stringify(msgs3));
  check("the expiry's message comes from central's origin and says ERROR session_expired", m3?.origin === new URL(base).origin &&
    m3?.data?.type === "kyc.flow.result" && m3?.data?.status === "ERROR" && m3?.data?.error_code === "session_expired" &&
    m3?.data?.session_id === process.env.KYC_EMBED_SESSION3, JSON.stringify(m3));
} catch (e) {
  result.error = e?.stack ?? String(e);
} finally {
  if (browser) await browser.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0); // stdin, the Go test's answers, stays open
}
