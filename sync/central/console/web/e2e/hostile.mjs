// Stored XSS in headless Chromium (playwright-core, the system browser):
// the Go test sync/central/console/hostile_browser_test.go
// (TestHostileStringsInBrowser) serves a console whose device, case,
// notes, list and partner carry strings that would run script or open a
// dialog if any page let them through, and runs this script with a
// signed-in admin's session; it reads the JSON line this script prints
// last:
//
//   {"checks": [{name, pass, detail}], "error": "..."}
//
// For each page: it loads (no page error), no dialog opens, no hostile
// handler set its marker, the browser reports no content security policy
// violation (an inline script or handler the policy had to block would be
// markup the page let through), and the hostile text shows as text.
//
// Environment:
//   KYC_CONSOLE_URL    the console's base URL (http://127.0.0.1:PORT)
//   KYC_PLAYWRIGHT     absolute path of playwright-core's index.mjs
//   KYC_E2E_CHROMIUM   the Chromium binary
//   KYC_HOSTILE        JSON {session, cookie, text, pages: [path]}
//   KYC_HOSTILE_DEBUG  non-empty: each request, as it starts and ends, on stderr
//
// Everything waits for a condition (a load); nothing sleeps.
import { pathToFileURL } from "node:url";

const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_CONSOLE_URL;
const cfg = JSON.parse(process.env.KYC_HOSTILE ?? "{}");
const result = { checks: [], error: "" };
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });

const browser = await chromium.launch({
  executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB" });
  await ctx.addCookies([{ name: cfg.cookie, value: cfg.session, url: base, httpOnly: true, sameSite: "Strict" }]);
  // Before any page script: record the policy's violations and give the
  // hostile strings' alert() a marker (a dialog is caught as well).
  await ctx.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(120000); // a bound on a hang, not a speed target
  let dialogs = [];
  let errors = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on("pageerror", (e) => errors.push(e.message));
  if (process.env.KYC_HOSTILE_DEBUG) {
    page.on("request", (r) => console.error(`request ${r.url()}`));
    page.on("requestfinished", (r) => console.error(`finished ${r.url()}`));
    page.on("requestfailed", (r) => console.error(`failed ${r.url()} ${r.failure()?.errorText}`));
  }
  let shownAnywhere = 0;
  for (const path of cfg.pages ?? []) {
    dialogs = [];
    errors = [];
    console.error(`loading ${path}`);
    const resp = await page.goto(new URL(path, base).href, { waitUntil: "load" });
    const status = resp ? resp.status() : 0;
    check(`${path}: loads`, status === 200, `status ${status}, at ${page.url()}`);
    check(`${path}: no dialog`, dialogs.length === 0, dialogs.join(" | "));
    check(`${path}: no page error`, errors.length === 0, errors.join(" | "));
    const csp = await page.evaluate(() => window.__csp);
    check(`${path}: no content security policy violation`, csp.length === 0, csp.join(" | "));
    // Markup the hostile strings would make: none is in the document.
    const made = await page.evaluate(() => [...document.querySelectorAll("img[src='x'], img[onerror], [onload], [onclick]")].length +
      [...document.scripts].filter((s) => /alert\(/.test(s.textContent) && s.type !== "application/json").length +
      [...document.querySelectorAll("a[href^='javascript:' i]")].length);
    check(`${path}: no element made of a hostile string`, made === 0, `${made} elements`);
    const text = await page.evaluate(() => document.body.innerText);
    if (text.includes(cfg.text)) shownAnywhere++;
  }
  check("the hostile strings are shown as text somewhere", shownAnywhere > 0, "on no page");
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
