// The account page's sessions in headless Chromium (playwright-core, the
// system browser). The Go test sync/central/console/sessions_browser_test.go
// (TestEndSessionInBrowser) serves a console with one account and runs
// this script; it reads the JSON line this script prints last:
//
//   {"checks": [{name, pass, detail}], "error": "..."}
//
// Two browser contexts sign in to the same account through the sign-in
// form and its TOTP step. The first lists both sessions on the account
// page, this one marked, gives its password and signs the other out; the
// other is then sent to the sign-in page.
//
// A line "@@totp {}" asks the Go test for a TOTP code of the account (its
// clock's next step: a code signs in once); it answers {"code": "123456"}.
//
// Environment:
//   KYC_CONSOLE_URL    the console's base URL (http://127.0.0.1:PORT)
//   KYC_PLAYWRIGHT     absolute path of playwright-core's index.mjs
//   KYC_AXE            absolute path of axe-core's axe.min.js
//   KYC_E2E_CHROMIUM   the Chromium binary
//   KYC_SESSIONS       JSON {name, password}
//
// Everything waits for a condition (a selector, a navigation); nothing
// sleeps.
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import { runAxe, wcag21aa } from "../../../../../internal/browsertest/axe.mjs";

const { chromium } = await import(pathToFileURL(process.env.KYC_PLAYWRIGHT).href);
const base = process.env.KYC_CONSOLE_URL;
const cfg = JSON.parse(process.env.KYC_SESSIONS ?? "{}");
const result = { checks: [], error: "" };
const check = (name, pass, detail = "") => result.checks.push({ name, pass: !!pass, detail: pass ? "" : String(detail) });

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(request, arg = {}) {
  process.stdout.write(`@@${request} ${JSON.stringify(arg)}\n`);
  const { value, done } = await stdin.next();
  if (done) throw new Error(`no answer to ${request}`);
  const answer = JSON.parse(value);
  if (answer.error) throw new Error(`${request}: ${answer.error}`);
  return answer;
}

const browser = await chromium.launch({
  executablePath: process.env.KYC_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});

async function submitAndWait(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
  return resp;
}

// signIn is a page of a new context (a browser of its own) signed in
// through the form: name and password, then a TOTP code.
async function signIn(label) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB" });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => check(`${label}: no page error`, false, e.message));
  await page.goto(new URL("/console/signin", base).href, { waitUntil: "load" });
  await page.fill("#name", cfg.name);
  await page.fill("#password", cfg.password);
  await submitAndWait(page, "form[action='/console/signin'] button[type=submit]");
  await page.waitForSelector("#code");
  const { code } = await ask("totp");
  await page.fill("#code", code);
  await submitAndWait(page, "form[action='/console/signin/totp'] button[type=submit]");
  check(`${label} signs in`, new URL(page.url()).pathname === "/console/queue", page.url());
  return page;
}

const rowsOf = (page) => page.$$eval("#sessions tbody tr", (trs) => trs.map((tr) => ({
  client: tr.querySelector("th")?.textContent.replace(/\s+/g, " ").trim(),
  current: tr.getAttribute("aria-current") === "true",
  button: tr.querySelector("button[name=id]") !== null,
})));

try {
  const first = await signIn("the first browser");
  const other = await signIn("the other browser");

  await first.goto(new URL("/console/account", base).href, { waitUntil: "load" });
  const rows = await rowsOf(first);
  check("the account page lists both sessions, this one marked and without a button",
    rows.length === 2 && rows.filter((r) => r.current).length === 1 && rows.every((r) => r.current !== r.button) &&
    rows.every((r) => r.client.startsWith("Chrome on Linux")) && rows.find((r) => r.current)?.client.endsWith("this session"),
    JSON.stringify(rows));
  const axe = await runAxe(first, process.env.KYC_AXE, { tags: wcag21aa });
  check("the account page passes axe's WCAG 2.1 AA rules", axe.violations.length === 0, JSON.stringify(axe.violations));

  // Without the password the browser does not send the form.
  await first.click("#sessions button[name=id]");
  check("signing a session out asks the password first", new URL(first.url()).pathname === "/console/account" &&
    await first.$eval("#sessions-password", (e) => !e.checkValidity() && document.activeElement === e), first.url());

  await first.fill("#sessions-password", cfg.password);
  const resp = await submitAndWait(first, "#sessions button[name=id]");
  const status = await first.textContent("[role=status]").catch(() => "");
  const after = await rowsOf(first);
  check("the other session is signed out; this one stays, listed alone", resp.status() === 200 &&
    new URL(first.url()).pathname === "/console/account" && status.includes("That session is signed out") &&
    after.length === 1 && after[0].current, `${resp.status()} ${first.url()} ${status} ${JSON.stringify(after)}`);

  await other.goto(new URL("/console/queue", base).href, { waitUntil: "load" });
  check("the other browser is sent to sign in", new URL(other.url()).pathname === "/console/signin", other.url());
} catch (e) {
  result.error = e.stack ?? String(e);
} finally {
  await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify(result) + "\n");
// The open stdin (the Go test's answers) would keep node running.
process.exit(0);
