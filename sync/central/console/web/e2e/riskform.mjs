// The risk form's screening_max_age_days in headless Chromium
// (playwright-core, the system browser). The Go test
// sync/central/console/riskform_e2e_test.go (TestRiskFormScreeningAgeInBrowser)
// serves a console with two admins signed in and runs this script; it
// reads the JSON line this script prints last:
//
//   {"checks": [{name, pass, detail}], "axe": {violations, passes}, "error": "..."}
//
// One admin proposes a maximum age of the watchlists, the browser holding
// the field to 1-365 and the server refusing what the browser let through;
// the other sees the change named in the proposal and confirms it.
//
// Environment:
//   KYC_CONSOLE_URL    the console's base URL (https://127.0.0.1:PORT)
//   KYC_PLAYWRIGHT     absolute path of playwright-core's index.mjs
//   KYC_AXE            absolute path of axe-core's axe.min.js
//   KYC_E2E_CHROMIUM   the Chromium binary
//   KYC_RISK_SESSIONS  JSON {proposer, confirmer}: each admin's session token
//
// Everything waits for a condition (a selector, a navigation); nothing
// sleeps.
import { pathToFileURL } from "node:url";
import { runAxe, wcag21aa } from "../../../../../internal/browsertest/axe.mjs";

const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_CONSOLE_URL;
const sessions = JSON.parse(process.env.KYC_RISK_SESSIONS ?? "{}");
const result = { checks: [], axe: null, error: "" };
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });

const browser = await chromium.launch({
  executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});

// signedIn is a page of a context holding the session cookie of token (the
// test's certificate is self-signed: not trusted by this throwaway profile).
async function signedIn(token) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, locale: "en-GB" });
  await ctx.addCookies([{ name: "__Host-kyc_session", value: token, url: base, secure: true, httpOnly: true, sameSite: "Strict" }]);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => check("no page error", false, e.message));
  return page;
}

async function openRisk(page) {
  await page.goto(new URL("/console/risk", base).href, { waitUntil: "load" });
  await page.waitForSelector("#risk-form #f-screening_max_age_days");
}

async function submitAndWait(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
  return resp;
}

const field = "#f-screening_max_age_days";
try {
  const ada = await signedIn(sessions.proposer);
  await openRisk(ada);
  const shown = await ada.$eval(field, (e) => ({ value: e.value, min: e.min, max: e.max, required: e.required,
    label: document.querySelector(`label[for="${e.id}"]`)?.textContent.trim(), help: document.getElementById(e.getAttribute("aria-describedby"))?.textContent }));
  check("the field shows the default, 7 days, labelled and explained", shown.value === "7" && shown.min === "1" && shown.max === "365" && shown.required &&
    shown.label === "Maximum age of the watchlists (days)" && /SCREENING_STALE/.test(shown.help ?? ""), JSON.stringify(shown));
  const axe = await runAxe(ada, process.env.KYC_AXE, { tags: wcag21aa });
  result.axe = { violations: axe.violations.map((v) => v.id), passes: axe.passes };
  check("the risk page passes axe's WCAG 2.1 AA rules", axe.violations.length === 0, JSON.stringify(axe.violations));

  // The browser holds the field to 1-365: a propose with 0 or 366 does
  // not leave the page.
  for (const [typed, flaw] of [["0", "rangeUnderflow"], ["366", "rangeOverflow"], ["", "valueMissing"], ["2.5", "stepMismatch"]]) {
    await ada.fill(field, typed);
    await ada.click("#risk-form button[value=propose]");
    const validity = await ada.$eval(field, (e, flaw) => ({ flaw: e.validity[flaw], valid: e.checkValidity(), focused: document.activeElement === e }), flaw);
    check(`the browser refuses ${JSON.stringify(typed)} days (${flaw})`, !validity.valid && validity.flaw === true && validity.focused &&
      new URL(ada.url()).pathname === "/console/risk" && (await ada.$("#risk-proposal")) === null, JSON.stringify(validity));
  }

  // What the browser lets through (its check turned off), the server
  // refuses: 422, the field named and marked.
  await ada.$eval("#risk-form", (f) => { f.noValidate = true; });
  await ada.fill(field, "400");
  const refused = await submitAndWait(ada, "#risk-form button[value=preview]");
  const problems = await ada.textContent("#risk-problems").catch(() => "");
  check("the server refuses 400 days, naming the field", refused.status() === 422 && problems.includes("a whole number of days from 1 to 365") &&
    (await ada.$("#risk-problems a[href='#f-screening_max_age_days']")) !== null &&
    (await ada.getAttribute(field, "aria-invalid")) === "true", `${refused.status()} ${problems}`);

  // A valid value is proposed, not published.
  await ada.fill(field, "3");
  await ada.fill("#f-reason", "lists confirmed at most 3 days before");
  await submitAndWait(ada, "#risk-form button[value=propose]");
  const mine = await ada.textContent("#risk-proposal").catch(() => "");
  check("the proposal waits for a second admin", mine.includes("You proposed these settings"), mine);

  // The other admin sees the change named, and confirms it.
  const bob = await signedIn(sessions.confirmer);
  await openRisk(bob);
  const rows = await bob.$$eval("#risk-proposal table tbody tr", (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())));
  check("the proposal names the maximum age, 7 to 3 days", rows.some((r) => r.join("|") === "Maximum age of the watchlists (days)|7|3"), JSON.stringify(rows));
  await submitAndWait(bob, "form[action='/console/risk/proposal/confirm'] button[type=submit]");
  check("once confirmed, the form shows 3 days", (await bob.inputValue(field)) === "3" && (await bob.$("#risk-proposal")) === null, await bob.inputValue(field));
} catch (e) {
  result.error = e.stack ?? String(e);
} finally {
  await browser.close();
  process.stdout.write(JSON.stringify(result) + "\n");
}
