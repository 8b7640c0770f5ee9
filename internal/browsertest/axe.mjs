// axe-core for every browser script of the repository (the console's and
// the hosted flow's), imported by relative path.
//
// The script is evaluated in the page (page.evaluate of its text) rather
// than added as a <script> tag: evaluation goes through the DevTools
// protocol, which the page's Content-Security-Policy does not govern, so a
// page is checked under the policy it really runs with.
import { readFileSync } from "node:fs";

const sources = new Map(); // axe.min.js's path -> its text, read once

// The WCAG 2.1 A and AA rules: what banking-grade flows are held to (the
// European Accessibility Act points at EN 301 549, which is WCAG 2.1 AA).
export const wcag21aa = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

// runAxe runs axe-core (axePath: its axe.min.js) on the page as it stands,
// with only the rules of tags when given, and returns the number of rules
// passed, each violation with its rule id, impact, help and the CSS
// targets of (up to five of) its nodes, and the ids of the rules axe-core
// could not decide (review: for a person to look at, such as the contrast
// of text over an image).
export async function runAxe(page, axePath, { tags } = {}) {
  if (!sources.has(axePath)) sources.set(axePath, readFileSync(axePath, "utf8"));
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(sources.get(axePath));
  return page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const res = await axe.run(document, { resultTypes: ["violations"], ...(tags ? { runOnly: { type: "tag", values: tags } } : {}) });
    return {
      passes: res.passes.length,
      review: res.incomplete.map((v) => v.id),
      violations: res.violations.map((v) => ({
        id: v.id, impact: v.impact ?? "", help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
      })),
    };
  }, tags ?? null);
}
