// The fake camera of the hosted flow's browser tests (flow.mjs, active.mjs),
// one module so that both drive it alike.
//
// Chromium takes one video file for every camera
// (--use-file-for-fake-video-capture) and opens it again at each
// getUserMedia (media/capture/video/file_video_capture_device.cc), playing
// it from its first frame at the frames a second its header declares and
// looping at its end. The file named to Chromium is a symlink, and a
// page's getUserMedia points it, before the camera opens, at the document
// video when the page asks for the back camera (facingMode environment, or
// none) and at the selfie video when it asks for the front one (user), as
// a phone's two cameras see the card and the face. Each capture step so
// starts at its own video's first frame, whatever the page's or the
// machine's speed, and never waits through another step's part of a video.
import { renameSync, rmSync, symlinkSync } from "node:fs";

// fakeCamera makes file, the file Chromium is told to play, a symlink to
// videos.document, and returns the camera: its file, the arguments that
// give it to Chromium, and point, which turns the symlink to videos[which]
// ("document" or "selfie"). Chromium reads an open camera's file frame by
// frame, so a camera already open plays on and the next one to open plays
// the video pointed at.
export function fakeCamera(file, videos) {
  const point = (which) => {
    const target = videos[which];
    if (!target) throw new Error(`fake camera: no ${which} video`);
    const next = `${file}.${which}`;
    rmSync(next, { force: true });
    symlinkSync(target, next);
    renameSync(next, file); // atomic: Chromium never finds the file missing
  };
  point("document");
  return { file, point, args: ["--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${file}`] };
}

// followCamera wraps page's getUserMedia so that, before a camera opens,
// camera (fakeCamera; null for a browser without one) points at the video
// of the camera asked for: the front one (facingMode user, exact or ideal)
// sees the face, any other the card. Call it before the page loads.
export async function followCamera(page, camera) {
  await page.exposeBinding("__e2eCamera", (_src, facing) => camera?.point(facing === "user" ? "selfie" : "document"));
  await page.addInitScript(() => {
    const md = navigator.mediaDevices;
    if (!md?.getUserMedia) return;
    const open = md.getUserMedia.bind(md);
    md.getUserMedia = async (c) => {
      const f = c?.video?.facingMode;
      await window.__e2eCamera(String(f?.exact ?? f?.ideal ?? f ?? ""));
      return open(c);
    };
  });
}

// throttleCPU slows page's CPU by rate (DevTools' CPU throttling; the
// tests' KYC_FLOW_CPU_THROTTLE), as a slow phone or a loaded machine does,
// while the fake camera plays at its own speed: a slow page on demand, for
// checking that the capture waits for it. A rate of 0 or none does
// nothing.
export async function throttleCPU(page, rate) {
  if (!Number(rate)) return;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: Number(rate) });
}
