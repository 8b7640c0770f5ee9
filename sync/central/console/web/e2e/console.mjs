// End-to-end test of the review console in headless Chromium (playwright-core,
// the system browser), against a real kyc-central whose cases come from real
// verifications synced by real devices. The Go test
// sync/central/console/e2e_test.go (TestConsoleInBrowser) sets everything up
// and runs this script; it reads the JSON line this script prints last:
//
//   {"checks": [{name, pass, detail}], "axe": [{page, violations, passes}],
//    "shots": [...], "log": [...], "step": "...", "error": "..."}
//
// A line "@@<request> <json>" asks the Go test for what only it can do: enrol
// a device with `kyc enroll` and a token the console made ("enrol"), change
// an audit row in PostgreSQL behind central's back ("tamper"); it answers
// one JSON line on stdin.
//
// Environment:
//   KYC_CONSOLE_URL     central's base URL (https://127.0.0.1:PORT)
//   KYC_PLAYWRIGHT      absolute path of playwright-core's index.mjs
//   KYC_AXE             absolute path of axe-core's axe.min.js
//   KYC_E2E_CHROMIUM    the Chromium binary (/usr/bin/chromium)
//   KYC_CONSOLE_SHOTS   folder for the screenshots
//   KYC_CONSOLE_USERS   JSON {admin|reviewer1|reviewer2|reviewerB|auditor: {name, password, role, scopes}}
//   KYC_CONSOLE_CASES   JSON {pep|mismatch|mismatch2|branchB|retry|challenge: {device_id, submission_id, key, decision, score, reasons}}
//   KYC_CONSOLE_PARTNER JSON {id, name, pass_key}: a partner made with the admin API
//
// Everything waits for a condition (a selector, a response, a URL); nothing
// sleeps.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runAxe as axeRun } from "../../../../../internal/browsertest/axe.mjs";
import { screenshot } from "../../../../../internal/browsertest/screenshot.mjs";

const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_CONSOLE_URL;
const axePath = process.env.KYC_AXE;
const shots = process.env.KYC_CONSOLE_SHOTS ?? "screenshots";
const users = JSON.parse(process.env.KYC_CONSOLE_USERS ?? "{}");
const cases = JSON.parse(process.env.KYC_CONSOLE_CASES ?? "{}");
const partner = JSON.parse(process.env.KYC_CONSOLE_PARTNER ?? "{}");
const here = dirname(fileURLToPath(import.meta.url));
const catalogue = (lang) => JSON.parse(readFileSync(join(here, "..", "i18n", `${lang}.json`), "utf8"));
const en = catalogue("en");
const id = catalogue("id");

const result = { checks: [], axe: [], shots: [], log: [], step: "", error: "" };
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });

// --- the Go side ----------------------------------------------------------

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(request, arg = {}) {
  process.stdout.write(`@@${request} ${JSON.stringify(arg)}\n`);
  const { value, done } = await stdin.next();
  if (done) throw new Error(`no answer to ${request}`);
  const answer = JSON.parse(value);
  if (answer.error) throw new Error(`${request}: ${answer.error}`);
  return answer;
}

// --- TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) ---------------------

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, "").replace(/\s+/g, "").toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totpAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

// A code is accepted once (the account remembers the last step used) and
// central allows one step of clock skew either way, so a second sign-in of
// the same account within a step uses the next step's code.
const lastStep = {};
function nextCode(user) {
  const now = Math.floor(Date.now() / 30000);
  const step = Math.max(now, (lastStep[user.name] ?? now - 1) + 1);
  if (step > now + 1) throw new Error(`${user.name}: no unused TOTP step left in the skew window`);
  lastStep[user.name] = step;
  return totpAt(user.secret, step);
}

// --- browser helpers --------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});

// Each person works in a browser context of their own (their own cookies).
// Central's certificate comes from its private CA, which this throwaway
// browser profile does not trust; the console's CSP would refuse what the
// test adds to a page, which bypassCSP allows for the test only.
async function newContext(viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport, locale: "en-GB" });
  return ctx;
}

function watch(page, who) {
  page.on("pageerror", (e) => result.log.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    // The 4xx answers the test provokes (a wrong code, a refused action)
    // are logged by Chromium as failed loads: they are not page errors.
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      result.log.push(`${who}: console error: ${m.text()}`);
    }
  });
}

let shotN = 0;
// shot saves a screenshot and runs axe-core on the page as it stands.
async function shot(page, name, { axe = true } = {}) {
  shotN++;
  const file = `${String(shotN).padStart(2, "0")}-${name}.png`;
  await screenshot(page, { path: join(shots, file), fullPage: false });
  result.shots.push(file);
  if (axe) await runAxe(page, name);
}

async function runAxe(page, name) {
  const r = await axeRun(page, axePath);
  const violations = r.violations.map((v) => `${v.id} (${v.impact}) at ${v.targets.slice(0, 3).join(", ")}: ${v.help}`);
  result.axe.push({ page: name, violations, passes: r.passes });
}

// goto loads a console path and returns the response.
async function goto(page, path) {
  return page.goto(new URL(path, base).href, { waitUntil: "load" });
}

// submitAndWait clicks a submit button and waits for the page it leads to.
async function submitAndWait(page, selector) {
  const [resp] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click(selector),
  ]);
  return resp;
}

// verifyChain opens the audit view and runs "Verify chain" once the
// cooldown after the last (kyc-central serve --audit-verify-cooldown, 1 s
// here) lets it: the view is read again until its button is enabled.
async function verifyChain(page) {
  const deadline = Date.now() + 30_000;
  await goto(page, "/console/audit");
  while (await page.locator("#verify-chain[disabled]").count()) {
    if (Date.now() > deadline) throw new Error("Verify chain stayed disabled for 30 s");
    await page.waitForTimeout(200); // paces the poll of a condition, bounded by the deadline
    await goto(page, "/console/audit");
  }
  return submitAndWait(page, "#verify-chain");
}

// signIn signs user in from a fresh context: password, then TOTP, enrolling
// the second factor on the first sign-in (the secret read from the page, as
// a person types it into an authenticator app). screenshots: true for every
// step, "totp" for the code step only.
async function signIn(key, { screenshots = false, viewport } = {}) {
  const user = users[key];
  const ctx = await newContext(viewport);
  const page = await ctx.newPage();
  watch(page, user.name);
  await goto(page, "/console/");
  await page.waitForSelector("form[action='/console/signin'] #name");
  check(`${key}: an anonymous visit lands on sign-in`, new URL(page.url()).pathname === "/console/signin", page.url());
  if (screenshots === true) await shot(page, "signin");
  await page.fill("#name", user.name);
  await page.fill("#password", user.password);
  await submitAndWait(page, "form[action='/console/signin'] button[type=submit]");
  const path = new URL(page.url()).pathname;
  if (path === "/console/enrol") {
    const secret = (await page.textContent("#totp-secret")).trim();
    check(`${key}: enrolment shows a QR code and the secret`, secret.length >= 16 && (await page.locator("figure.qr img").count()) === 1, secret);
    if (screenshots) await shot(page, "enrol-totp");
    user.secret = secret;
    // Without the one-time enrolment code `user add` printed, the
    // password alone enrols nothing (checked for one account: each refusal
    // counts against this address's failure budget).
    if (key === "admin") {
      await page.fill("#enrol-code", "ABCD-EFGH-JKMN");
      await page.fill("#code", totpAt(secret, Math.floor(Date.now() / 30000)));
      const noEnrolCode = await submitAndWait(page, "form[action='/console/enrol'] button[type=submit]");
      check(`${key}: enrolment with a wrong enrolment code is refused`, noEnrolCode.status() === 401 && (await page.locator("#totp-secret").count()) === 1, noEnrolCode.status());
    }
    // A wrong code is refused and the page stays.
    await page.fill("#enrol-code", user.enrol_code);
    await page.fill("#code", totpAt(secret, Math.floor(Date.now() / 30000) + 5));
    const bad = await submitAndWait(page, "form[action='/console/enrol'] button[type=submit]");
    check(`${key}: a wrong enrolment code is refused`, bad.status() === 401 && (await page.locator("#totp-secret").count()) === 1, bad.status());
    await page.fill("#enrol-code", user.enrol_code);
    await page.fill("#code", nextCode(user));
    await submitAndWait(page, "form[action='/console/enrol'] button[type=submit]");
  } else if (path === "/console/signin/totp") {
    if (screenshots) await shot(page, "signin-totp");
    await page.fill("#code", nextCode(user));
    await submitAndWait(page, "form[action='/console/signin/totp'] button[type=submit]");
  } else {
    throw new Error(`${key}: after the password, ${page.url()}`);
  }
  const landed = new URL(page.url()).pathname;
  check(`${key}: signed in with password and TOTP`, landed.startsWith("/console/") && !landed.startsWith("/console/signin") && !landed.startsWith("/console/enrol"), page.url());
  const cookies = await ctx.cookies();
  const sess = cookies.find((c) => c.name.endsWith("kyc_session"));
  check(`${key}: session cookie is __Host-, Secure, HttpOnly, SameSite=Strict`,
    sess && sess.name === "__Host-kyc_session" && sess.secure && sess.httpOnly && sess.sameSite === "Strict", JSON.stringify(sess));
  return { ctx, page, user };
}

// csrfOf reads the session's CSRF token from a form of the page.
async function csrfOf(page) {
  return page.getAttribute("input[name=csrf]", "value");
}

// post sends a form POST with the context's cookies (no browser form):
// what a script holding the victim's cookies, or a tool, would send.
async function post(ctx, path, form, headers = {}) {
  const r = await ctx.request.post(new URL(path, base).href, { form, headers, maxRedirects: 0, failOnStatusCode: false });
  return r.status();
}

// section runs one part of the scenario; a failure (a selector that never
// came, a thrown error) is recorded as a failed check and the next part
// still runs, so one broken page does not hide the state of the others.
async function section(name, fn) {
  result.step = name;
  try {
    await fn();
  } catch (err) {
    check(`${name} (ran to the end)`, false, err.stack ?? String(err));
  }
}

// --- the scenario -----------------------------------------------------------

const caseURL = (c) => `/console/cases/${c.device_id}/${c.key}`;
const pages = {};

// caseState reads the case's state line as the page shows it.
async function caseState(page, c) {
  const r = await goto(page, caseURL(c));
  if (r.status() !== 200) return `HTTP ${r.status()}`;
  return (await page.textContent("#case-state")).trim();
}

// caseVersion reads the review's version from a case form the admin sees.
async function caseVersion(c) {
  const { page } = pages.admin;
  await goto(page, caseURL(c));
  const v = page.locator("input[name=version]");
  return (await v.count()) ? v.first().getAttribute("value") : "0";
}

// rawCaseAction posts a case action as a tool would (no browser form):
// who's cookies and CSRF token (from their page), and the review's current
// version (so a refusal is the rule's, not a stale form's).
async function rawCaseAction(who, c, action, form = {}, headers = {}) {
  const version = await caseVersion(c);
  const { ctx, page } = pages[who];
  await goto(page, caseURL(c));
  const csrf = await csrfOf(page);
  return post(ctx, `${caseURL(c)}/${action}`, { csrf, version, ...form }, headers);
}

try {
  await section("sign-in with TOTP", async () => {
    pages.admin = await signIn("admin", { screenshots: true });
    // The wrong password and an unknown account read alike.
    const ctx = await newContext();
    const page = await ctx.newPage();
    await goto(page, "/console/signin");
    await page.fill("#name", users.admin.name);
    await page.fill("#password", "not-the-password");
    const r = await submitAndWait(page, "form[action='/console/signin'] button[type=submit]");
    const wrongPw = await page.textContent("p.error");
    await page.fill("#name", "nobody-here");
    await page.fill("#password", "not-the-password");
    const r2 = await submitAndWait(page, "form[action='/console/signin'] button[type=submit]");
    const unknown = await page.textContent("p.error");
    check("a wrong password is refused (401) and reads as an unknown account does",
      r.status() === 401 && r2.status() === 401 && wrongPw === unknown, `${r.status()} ${r2.status()} ${wrongPw} / ${unknown}`);
    await shot(page, "signin-refused");
    await ctx.close();
    for (const key of ["reviewer1", "reviewer2", "reviewerB", "auditor"]) pages[key] = await signIn(key);
    // An enrolled account signs in with its code (a second browser).
    const again = await signIn("admin", { screenshots: "totp" });
    await again.ctx.close();
    // Keyboard: the first Tab reaches the skip link.
    const { page: p } = pages.admin;
    await goto(p, "/console/queue");
    await p.keyboard.press("Tab");
    check("the first Tab focuses the skip link", await p.evaluate(() => document.activeElement?.classList.contains("skip")));
  });

  await section("queue", async () => {
    const { page } = pages.admin;
    await goto(page, "/console/queue");
    await page.waitForSelector("#queue-count");
    const text = await page.textContent("#queue");
    const listed = (name) => text.includes(cases[name].submission_id);
    check("the queue lists every case the engine left to a person (review, escalate) and no other",
      ["pep", "mismatch", "mismatch2", "branchB"].every(listed) && !listed("retry"),
      ["pep", "mismatch", "mismatch2", "branchB", "retry"].map((n) => `${n}:${listed(n)}`).join(" "));
    const rows = await page.locator("#queue tbody tr").count();
    check("the queue has 4 rows", rows === 4, rows);
    const sla = await page.locator("#queue tbody td[class^=sla-]").count();
    check("each row shows its age with an SLA colour", sla === rows, `${sla} of ${rows}`);
    await shot(page, "queue");
    // Filter by decision (the form, as a person uses it).
    await page.selectOption("#f-decision", "escalate");
    await submitAndWait(page, "form.filters button[type=submit]");
    const frows = await page.locator("#queue tbody tr").count();
    const ftext = await page.textContent("#queue");
    check("filtering by decision escalate lists only the watchlist case", frows === 1 && ftext.includes(cases.pep.submission_id), `${frows} rows`);
    await shot(page, "queue-filtered");
    // Search by person: the name as the officer types it, through the
    // blind index (the MRZ reads ERIKSSON<<ANNA<MARIA).
    await goto(page, "/console/queue");
    await page.selectOption("#f-kind", "name");
    await page.fill("#f-q", "Anna Maria Eriksson");
    await submitAndWait(page, "form.filters button[type=submit]");
    const srows = await page.locator("#queue tbody tr").count();
    check("searching by name finds the applicant's case only", srows === 1 && (await page.textContent("#queue")).includes(cases.pep.submission_id), `${srows} rows`);
    await shot(page, "queue-search");
    // Reviewers see their branches only.
    for (const [who, want, not] of [["reviewer1", ["pep", "mismatch", "mismatch2"], ["branchB"]], ["reviewerB", ["branchB"], ["pep", "mismatch", "mismatch2"]]]) {
      const pg = pages[who].page;
      await goto(pg, "/console/queue");
      const t = (await pg.locator("#queue").count()) ? await pg.textContent("#queue") : "";
      check(`${who}'s queue holds the cases of their branch only`,
        want.every((n) => t.includes(cases[n].submission_id)) && !not.some((n) => t.includes(cases[n].submission_id)), t.slice(0, 300));
    }
  });

  await section("case view", async () => {
    const { page } = pages.admin;
    const r = await goto(page, caseURL(cases.mismatch));
    check("the case view opens", r.status() === 200, r.status());
    const reasons = await page.textContent("#h-reasons + ul");
    check("the case view gives the reason codes in words", reasons.includes(en["reason.FACE_MISMATCH"]) && reasons.includes("FACE_MISMATCH"), reasons.slice(0, 200));
    check("the case view has the MRZ check digits", (await page.locator("#mrz-checks tbody tr").count()) > 0);
    check("the case view shows the document and the selfie", (await page.locator("img[src$='/images/front']").count()) === 1 && (await page.locator("img[src$='/images/selfie']").count()) === 1);
    await page.waitForFunction(() => [...document.querySelectorAll("main img")].every((i) => i.complete && i.naturalWidth > 0));
    // The same passport verified again (the challenge): linked by its
    // document number, and flagged as the engine's reject.
    const link = page.locator(`#linked tbody tr:has(a[href="${caseURL(cases.challenge)}"])`);
    const linkText = (await link.count()) === 1 ? await link.textContent() : "";
    check("the case view links the same document's other submission, flagged rejected",
      linkText.includes(en["ident.document_number"]) && linkText.includes(en["linked.flag_rejected"]), linkText.replace(/\s+/g, " ").slice(0, 300));
    await shot(page, "case");
    await goto(page, caseURL(cases.pep));
    check("the watchlist case shows the hit beside the applicant", (await page.locator("#hit-0").count()) === 1);
    await page.evaluate(() => document.getElementById("h-screening").scrollIntoView({ block: "start" }));
    await shot(page, "case-watchlist-hit");
    // An active challenge with a frame of another person: the frames
    // against the selfie, the other person's marked (the frames are named
    // by their files: kyc verify --challenge-frame).
    const rc = await goto(page, caseURL(cases.challenge));
    check("the challenge's case opens by its address", rc.status() === 200, rc.status());
    const path = (await page.textContent("#liveness-path")).trim();
    check("the case view gives the liveness path", path.includes(en["path.challenge_failed"]), path);
    const rows = page.locator("#challenge-frames tbody tr");
    const own = rows.filter({ has: page.locator("th", { hasText: "089.jpg" }) });
    const other = rows.filter({ has: page.locator("th", { hasText: "001.jpg" }) });
    const otherText = (await other.textContent()) ?? "";
    check("the challenge's frames are listed with their similarity and traces", (await rows.count()) === 2 && (await page.locator("#challenge-frames thead th[scope=col]").count()) === 6);
    check("the frame of another person is marked", (await other.getAttribute("class")) === "mismatch" && otherText.includes(en["case.challenge_other_person"]), otherText);
    check("the selfie's own frame is not", (await own.getAttribute("class")) === null && (await own.textContent()).includes(en["case.challenge_frame_ok"]));
    await page.evaluate(() => document.getElementById("h-challenge").scrollIntoView({ block: "start" }));
    await shot(page, "case-challenge");
  });

  await section("claim and decide", async () => {
    const c = cases.mismatch2;
    const r1 = pages.reviewer1.page;
    await goto(r1, caseURL(c));
    await submitAndWait(r1, "#claim");
    const st = (await r1.textContent("#case-state")).trim();
    check("reviewer 1 claims the case", st.includes(en["state.claimed"]) && st.includes(users.reviewer1.name), st);
    await shot(r1, "case-claimed");
    // Two cannot hold the same case.
    const r2 = pages.reviewer2.page;
    await goto(r2, caseURL(c));
    check("the case held by reviewer 1 offers reviewer 2 no claim", (await r2.locator("#claim").count()) === 0);
    const code = await rawCaseAction("reviewer2", c, "decide", { outcome: "approve", note: "mine now" });
    check("reviewer 2 cannot decide a case reviewer 1 holds (409)", code === 409, code);
    await r1.check("input[name=outcome][value=resubmit]");
    await r1.fill("#note", "Expired passport and the selfie is another person: ask for a valid document and a new selfie.");
    await submitAndWait(r1, "#decide");
    const st2 = (await r1.textContent("#case-state")).trim();
    const outcome = (await r1.textContent("#case-outcome")).trim();
    check("reviewer 1's decision is final", st2.startsWith(en["state.decided"]) && outcome.includes(en["outcome.resubmit"]), `${st2} / ${outcome}`);
    await shot(r1, "case-decided");
    await goto(r1, "/console/queue");
    check("the decided case leaves the queue", !(await r1.textContent("main")).includes(c.submission_id));
  });

  await section("four eyes", async () => {
    const c = cases.pep;
    const r1 = pages.reviewer1.page;
    await goto(r1, caseURL(c));
    check("the escalated case says its decision needs four eyes", (await r1.locator(".badge.warnv").count()) > 0);
    await submitAndWait(r1, "#claim");
    // The screening hit: confirmed, with a note.
    await r1.check("#hit-0 input[name=status][value=confirmed]");
    await r1.fill("#hit-note-0", "Same name, same date of birth as the PEP entry.");
    await submitAndWait(r1, "#hit-0 button[type=submit]");
    await r1.check("input[name=outcome][value=reject]");
    await r1.selectOption("#reason", "sanctions");
    await r1.fill("#note", "Politically exposed person confirmed; rejected pending compliance.");
    await submitAndWait(r1, "#decide");
    const st = (await r1.textContent("#case-state")).trim();
    check("reviewer 1's reject of an escalated case goes to second review", st.startsWith(en["state.second_review"]), st);
    check("reviewer 1 is told a second reviewer must confirm", (await r1.locator("#four-eyes-wait").count()) === 1 && (await r1.locator("#confirm").count()) === 0);
    await shot(r1, "case-second-review");
    const code = await rawCaseAction("reviewer1", c, "confirm", { note: "I confirm my own" });
    check("reviewer 1 cannot confirm their own decision (403)", code === 403, code);
    check("the case is still in second review", (await caseState(r1, c)).startsWith(en["state.second_review"]));
    const r2 = pages.reviewer2.page;
    await goto(r2, caseURL(c));
    await r2.fill("#confirm-note", "Checked the list entry: confirmed.");
    await submitAndWait(r2, "#confirm");
    const st2 = (await r2.textContent("#case-state")).trim();
    const outcome = (await r2.textContent("#case-outcome")).trim();
    check("reviewer 2 confirms: the reject is final, with both names",
      st2.startsWith(en["state.decided"]) && outcome.includes(users.reviewer1.name) && outcome.includes(users.reviewer2.name), `${st2} / ${outcome}`);
    await shot(r2, "case-four-eyes-confirmed");
  });

  await section("branch scope", async () => {
    const { page } = pages.reviewerB;
    const r = await goto(page, caseURL(cases.mismatch));
    check("a reviewer of another branch gets 404 for the case", r.status() === 404, r.status());
    await shot(page, "error-not-found");
    const img = await pages.reviewerB.ctx.request.get(new URL(`${caseURL(cases.mismatch)}/images/selfie`, base).href, { failOnStatusCode: false });
    check("… and for its images", img.status() === 404, img.status());
    const code = await rawCaseAction("reviewerB", cases.mismatch, "claim");
    check("… and cannot claim it (403 or 404)", code === 403 || code === 404, code);
    check("the case of their own branch opens", (await goto(page, caseURL(cases.branchB))).status() === 200);
    check("the other branch's case is still open", (await caseState(pages.admin.page, cases.mismatch)).startsWith(en["state.open"]));
  });

  await section("auditor read-only", async () => {
    const { page, ctx } = pages.auditor;
    const r = await goto(page, caseURL(cases.mismatch));
    check("the auditor reads the case", r.status() === 200, r.status());
    check("the auditor is offered no action", (await page.locator("#claim, #decide, #confirm").count()) === 0 && (await page.textContent("main")).includes(en["case.read_only"]));
    await shot(page, "case-auditor");
    const code = await rawCaseAction("auditor", cases.mismatch, "claim");
    check("the auditor's claim is refused (403)", code === 403, code);
    const code2 = await rawCaseAction("auditor", cases.mismatch, "decide", { outcome: "approve" });
    check("the auditor's decision is refused (403)", code2 === 403, code2);
    await goto(page, "/console/devices");
    const csrf = await csrfOf(page);
    const code3 = await post(ctx, "/console/devices/tokens", { csrf, branch: "X", ttl_hours: "1" });
    check("the auditor cannot make an enrolment token (403)", code3 === 403, code3);
    const r4 = await goto(page, "/console/lists");
    check("the auditor cannot open the watchlists admin page (403)", r4.status() === 403, r4.status());
    const r5 = await goto(page, "/console/partners");
    check("the auditor cannot open the partners page (403)", r5.status() === 403, r5.status());
    await shot(page, "error-forbidden");
    check("the case is still open", (await caseState(pages.admin.page, cases.mismatch)).startsWith(en["state.open"]));
  });

  await section("CSRF", async () => {
    const { ctx, page } = pages.admin;
    const c = cases.mismatch;
    await goto(page, caseURL(c));
    const csrf = await csrfOf(page);
    const noToken = await post(ctx, `${caseURL(c)}/claim`, { version: "0" });
    check("a POST without the CSRF token is refused (403)", noToken === 403, noToken);
    const wrongToken = await post(ctx, `${caseURL(c)}/claim`, { version: "0", csrf: "x".repeat(43) });
    check("a POST with another token is refused (403)", wrongToken === 403, wrongToken);
    const crossOrigin = await post(ctx, `${caseURL(c)}/claim`, { version: "0", csrf },
      { Origin: "https://attacker.example", "Sec-Fetch-Site": "cross-site" });
    check("a POST from another origin is refused even with the token (403)", crossOrigin === 403, crossOrigin);
    // A real cross-site form: a page of another origin posts to the
    // console in the signed-in admin's browser.
    const evil = createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(`<!doctype html><title>win a prize</title><form id="f" method="post" action="${new URL(`${caseURL(c)}/claim`, base).href}">
        <input name="csrf" value="${csrf}"><input name="version" value="0"></form><script>document.getElementById("f").submit()</script>`);
    });
    await new Promise((ok) => evil.listen(0, "127.0.0.1", ok));
    const tab = await ctx.newPage();
    const [resp] = await Promise.all([
      tab.waitForResponse((r) => r.url().endsWith("/claim") && r.request().method() === "POST"),
      tab.goto(`http://127.0.0.1:${evil.address().port}/`),
    ]);
    check("a form on another site posting to the console is refused (403)", resp.status() === 403, resp.status());
    await tab.waitForLoadState("load");
    await shot(tab, "error-csrf");
    await tab.close();
    evil.close();
    check("after all that the case is still open", (await caseState(page, c)).startsWith(en["state.open"]));
  });

  await section("admin pages", async () => {
    const { page } = pages.admin;
    await goto(page, "/console/devices");
    await page.waitForSelector("#devices");
    await shot(page, "devices");
    await page.fill("#tok-branch", "SBY-Tunjungan");
    await submitAndWait(page, "form[action='/console/devices/tokens'] button[type=submit]");
    const token = (await page.textContent("#enrol-token")).trim();
    check("an enrolment token is shown as text and QR code", token.length > 40 && (await page.locator("section.token figure.qr img").count()) === 1, token);
    await shot(page, "devices-enrolment-token");
    const enrolled = await ask("enrol", { token });
    await goto(page, "/console/devices");
    const row = (await page.textContent("#devices")) ?? "";
    check("a device enrolled with the console's token is listed with its branch",
      row.includes(enrolled.device_id) && row.includes("SBY-Tunjungan"), enrolled.device_id);
    // Partners: disabled (the confirmation box ticked) and enabled again.
    await goto(page, "/console/partners");
    await page.waitForSelector("#partners");
    const html = await page.content();
    check("the partners page lists the partner and its webhook, not its pass key",
      html.includes(partner.name) && html.includes(partner.id) && !html.includes(partner.pass_key), partner.id);
    await shot(page, "partners");
    await page.check(`[id="confirm-${partner.id}"]`);
    await submitAndWait(page, `form[action='/console/partners/${partner.id}/disable'] button[type=submit]`);
    check("disabling the partner says so and offers to enable it again",
      (await page.textContent("main")).includes(en["msg.adm.partner_disabled"]) &&
      (await page.locator(`form[action='/console/partners/${partner.id}/enable']`).count()) === 1, page.url());
    await shot(page, "partners-disabled");
    await submitAndWait(page, `form[action='/console/partners/${partner.id}/enable'] button[type=submit]`);
    check("enabling the partner again says so and offers to disable it",
      (await page.textContent("main")).includes(en["msg.adm.partner_enabled"]) &&
      (await page.locator(`form[action='/console/partners/${partner.id}/disable']`).count()) === 1, page.url());
    for (const p of ["lists", "risk", "privacy", "account"]) {
      const r = await goto(page, `/console/${p}`);
      check(`the ${p} page opens`, r.status() === 200, r.status());
      await shot(page, p);
    }
    // The risk preview: the last submissions decided again under the form's settings.
    await goto(page, "/console/risk");
    await submitAndWait(page, "#risk-form button[value=preview]");
    check("the risk preview shows how recent submissions would be decided", (await page.locator("#risk-preview").count()) === 1);
    await page.evaluate(() => document.getElementById("risk-preview").scrollIntoView({ block: "start" }));
    await shot(page, "risk-preview");
    const r = await goto(page, "/console/dashboard");
    check("the dashboard opens", r.status() === 200, r.status());
    // The charts are drawn by Chart.js after load: wait until each canvas has pixels.
    await page.waitForFunction(() => {
      const cs = [...document.querySelectorAll("canvas[data-chart]")];
      return cs.length > 0 && cs.every((c) => c.width > 0 && c.getContext("2d").getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0));
    }, null, { timeout: 20000 });
    check("the dashboard draws its charts", true);
    await shot(page, "dashboard");
  });

  await section("erasure", async () => {
    const { page } = pages.admin;
    const c = cases.retry;
    await goto(page, "/console/privacy");
    await page.fill("#e-dev", c.device_id);
    await page.fill("#e-sub", c.submission_id);
    await submitAndWait(page, "form:has(#e-sub) button[type=submit]");
    const count = (await page.textContent("#erase-count")).trim();
    check("erasure first counts what it would erase and asks for the word", (await page.locator("#erase-word").count()) === 1 && /\b1\b/.test(count), count);
    await shot(page, "privacy-erase-confirm");
    await page.fill("#erase-word", "erase please");
    await submitAndWait(page, "form:has(#erase-word) button[type=submit]");
    check("a wrong confirmation word erases nothing", (await page.locator("#erase-word").count()) === 1 && (await page.locator("p.error[role=alert]").count()) === 1);
    await page.fill("#erase-word", "ERASE");
    await submitAndWait(page, "form:has(#erase-word) button[type=submit]");
    // On PostgreSQL the job queue carries the erasure out: the page reads
    // its status again (admin.js) until it is done.
    const queued = (await page.locator("#erasure-status[data-erasure-pending]").count()) > 0;
    await page.waitForSelector("#erasure-status:not([data-erasure-pending])", { timeout: 60000 }).catch(() => {});
    const done = (await page.locator("#erasure-status").count()) ? (await page.textContent("#erasure-status")).trim() : "";
    check("with the word typed the submission is erased" + (queued ? " (by the job queue, the status read again in place)" : ""),
      /\b1 submissions were erased\b/.test(done), done || page.url());
    await shot(page, "privacy-erased");
    const r = await goto(page, caseURL(c));
    check("the erased submission is gone from central (404)", r.status() === 404, r.status());
    const rv = await goto(pages.reviewer1.page, "/console/privacy");
    check("a reviewer cannot open the erasure page (403)", rv.status() === 403, rv.status());
  });

  await section("indonesian", async () => {
    const { page } = pages.admin;
    await goto(page, "/console/queue");
    await page.selectOption("#lang-select", "id");
    await submitAndWait(page, "form.lang button[type=submit]");
    const lang = await page.getAttribute("html", "lang");
    const h1 = (await page.textContent("main h1")).trim();
    check("with Indonesian chosen the queue is in Indonesian", lang === "id" && h1 === id["queue.title"] && h1 !== en["queue.title"], `lang=${lang} h1=${h1}`);
    await shot(page, "queue-id");
    await goto(page, caseURL(cases.mismatch));
    const h = (await page.textContent("#h-reasons")).trim();
    check("… and so is the case view", h === id["case.reasons"], h);
    await shot(page, "case-id");
    await page.selectOption("#lang-select", "en");
    await submitAndWait(page, "form.lang button[type=submit]");
    check("switching back gives English", (await page.getAttribute("html", "lang")) === "en");
  });

  await section("tablet", async () => {
    const t = await pages.admin.ctx.newPage();
    watch(t, "tablet");
    await t.setViewportSize({ width: 768, height: 1024 });
    for (const [name, path] of [["tablet-queue", "/console/queue"], ["tablet-case", caseURL(cases.mismatch)]]) {
      await goto(t, path);
      const over = await t.evaluate(() => {
        const w = document.documentElement.clientWidth;
        // The widest elements past the right edge, to say what to fix.
        const wide = [...document.querySelectorAll("main *")].filter((e) => e.getBoundingClientRect().right > w + 1)
          .filter((e) => !e.parentElement || e.parentElement.getBoundingClientRect().right <= w + 1)
          .slice(0, 3).map((e) => {
            const named = e.closest("[id]");
            const where = e.closest("section")?.querySelector("h2")?.textContent ?? "";
            return `${e.tagName.toLowerCase()}${e.className ? "." + String(e.className).replace(/ /g, ".") : ""} in #${named?.id ?? "?"} (section "${where}", ${Math.round(e.getBoundingClientRect().right)} px)`;
          });
        return { px: document.documentElement.scrollWidth - w, wide };
      });
      check(`${name}: fits 768 px without sideways scrolling of the page`, over.px <= 0, `${over.px} px too wide: ${over.wide.join(", ")}`);
      await shot(t, name);
    }
    await t.close();
  });

  await section("sign-out", async () => {
    const { page } = pages.reviewerB;
    await goto(page, "/console/queue");
    await submitAndWait(page, "form[action='/console/signout'] button[type=submit]");
    check("signing out lands on sign-in with a notice", new URL(page.url()).pathname === "/console/signin" && (await page.textContent("main")).includes(en["msg.signed_out"]), page.url());
    await goto(page, caseURL(cases.branchB));
    check("after signing out the case asks for a sign-in", new URL(page.url()).pathname === "/console/signin", page.url());
  });

  // Last: after the tampering the chain stays broken.
  await section("audit chain", async () => {
    const { page } = pages.admin;
    await goto(page, "/console/audit");
    await page.waitForSelector("#audit");
    const trail = await page.textContent("#audit");
    check("the audit trail records the decisions", ["case_claim", "case_second_review", "case_confirm", "hit_resolve"].every((a) => trail.includes(a)), trail.slice(0, 300));
    await shot(page, "audit");
    await submitAndWait(page, "#verify-chain");
    const ok = (await page.textContent("#verify-result")).trim();
    check("Verify chain: the untouched chain verifies", (await page.locator("#verify-result.notice").count()) === 1, ok);
    check("Verify chain: the page says from when it may run again, its button disabled until then",
      (await page.locator("#verify-wait").count()) === 1 && (await page.locator("#verify-chain[disabled]").count()) === 1);
    await shot(page, "audit-verified");
    // An insider rewrites who confirmed the four-eyes reject, in PostgreSQL.
    const t = await ask("tamper", { action: "case_confirm" });
    await verifyChain(page);
    const broken = (await page.textContent("#verify-result")).trim();
    check("Verify chain finds the tampered entry", (await page.locator("#verify-result.error").count()) === 1 && broken.includes(String(t.seq)), `${broken} (tampered seq ${t.seq})`);
    await shot(page, "audit-tampered");
    // The auditor may run the check too.
    const a = pages.auditor.page;
    await verifyChain(a);
    check("the auditor's Verify chain finds it as well", (await a.locator("#verify-result.error").count()) === 1);
  });
} catch (err) {
  result.error = err.stack ?? String(err);
} finally {
  await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
