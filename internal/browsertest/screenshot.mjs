// Screenshots for every browser script of the repository (the desktop app's,
// the console's and the hosted flow's), imported by relative path.
//
// Headless Chromium sometimes answers Page.captureScreenshot with "Unable to
// capture screenshot" when no compositor frame is ready in time (a loaded
// machine, a page that just navigated); asked again once a frame is drawn, it
// takes the same picture (robotframework-browser #5237, chromedp #1215). One
// such refusal failed the console's CI run, so a capture first waits for a
// drawn frame and, refused that way, waits for another and asks again, up to
// three times. Any other error is thrown at once.

const attempts = 3;

// frame resolves once the page has drawn two animation frames: the second
// starts only after the first was handed to the compositor. A page that is
// navigating has no context to wait in: the capture then goes ahead as
// page.screenshot would.
async function frame(page) {
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))).catch(() => undefined);
}

// screenshot is page.screenshot(options) that survives Chromium's transient
// refusal.
export async function screenshot(page, options) {
  for (let i = 1; ; i++) {
    await frame(page);
    try {
      return await page.screenshot(options);
    } catch (e) {
      if (i >= attempts || !/Unable to capture screenshot/.test(String(e?.message))) throw e;
    }
  }
}
