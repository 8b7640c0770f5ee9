// The hosted capture flow: one page, screens drawn from the server's state
// (GET /flow/api/state). The server owns the flow and the guidance rules
// (engine/capture); this page shows the camera, sends a few frames a second,
// draws the overlay the server answers with, and says what to do next.
// No framework, no build step, nothing from other hosts.
import { strings } from "./i18n.js";

const API = "/flow/api/";
const FRAME_INTERVAL_MS = 500; // at most 2 frames a second (the server's limit)
const FRAME_WIDTH = 1280; // long side of the frames sent for guidance
const FRAME_QUALITY = 0.92;
const CAPTURE_WIDTH = 1920; // long side of a manual capture
const MANUAL_AFTER_MS = 6000; // the manual button appears after this long
const POLL_MS = 500; // processing
const POLL_MAX_MS = 8000; // processing without a connection: the longest wait between polls
const SUBMIT_RETRY_MS = 2000; // the submit sent again after a lost connection, first after this long,
const SUBMIT_RETRY_MAX_MS = 30000; // then twice as long each time up to this
const FOLLOW_MS = 1000; // Smart QR: following the phone
const UPLOAD_MAX = 10 * 1024 * 1024;
const CAPTURE_STAGES = ["document", "back", "selfie"];
const ID1_ASPECT = 85.6 / 54; // ID card (ID-1) width over height

const root = document.documentElement;
const app = document.getElementById("app");
const langButton = document.getElementById("lang");

let csrf = root.dataset.csrf || document.querySelector('meta[name="flow-csrf"]')?.content || "";
let lang = pickLang(root.dataset.lang || root.getAttribute("lang") || navigator.language);
let state = null; // the last state from the server
let screen = ""; // the screen shown
let cleanup = null; // stops what the current screen started (camera, timers)
let introSeen = false;
let rerender = null; // redraws the current screen in another language
let hasCamera = null; // null: unknown

// ---------------------------------------------------------------- helpers

function pickLang(s) {
  return String(s || "").toLowerCase().startsWith("id") ? "id" : "en";
}

function t(key, vars) {
  let s = strings[lang][key] ?? strings.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null && c !== false) e.append(c);
  return e;
}

function button(label, onClick, cls = "primary", attrs = {}) {
  const b = el("button", { type: "button", class: `btn ${cls}`, ...attrs }, label);
  b.addEventListener("click", async () => {
    if (b.disabled) return;
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
    try {
      await onClick();
    } catch (err) {
      showError(err);
    } finally {
      b.disabled = false;
      b.removeAttribute("aria-busy");
    }
  });
  return b;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class HTTPError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || "";
    this.requestId = body?.request_id || "";
  }
}

async function api(method, path, body, type) {
  const headers = { Accept: "application/json", "Accept-Language": lang };
  if (method !== "GET") headers["X-Flow-CSRF"] = csrf;
  if (body != null && type) headers["Content-Type"] = type;
  const r = await fetch(API + path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  let j = null;
  try {
    j = await r.json();
  } catch {
    j = null;
  }
  if (!r.ok) throw new HTTPError(r.status, j);
  return j;
}

// offline: err is the network's, not central's answer (fetch failed: no
// connection, a lift, a switch from Wi-Fi to mobile data), or a gateway's
// in between that did not reach central.
function offline(err) {
  return err instanceof TypeError || (err instanceof HTTPError && (err.status === 502 || err.status === 504));
}

function setState(s) {
  if (s && typeof s === "object" && s.stage) {
    state = s;
    if (s.lang && !langChosen) setLang(pickLang(s.lang), false);
    document.body.dataset.stage = s.stage;
  }
  return state;
}

// ---------------------------------------------------------------- language

let langChosen = false;

function setLang(l, chosen) {
  lang = l;
  if (chosen) langChosen = true;
  root.setAttribute("lang", lang);
  document.title = t("title");
  const other = lang === "en" ? "id" : "en";
  langButton.textContent = t("lang_switch");
  langButton.setAttribute("lang", other);
  langButton.setAttribute("aria-label", t("lang_label"));
  const skip = document.getElementById("skip");
  if (skip) skip.textContent = t("skip");
}

langButton.addEventListener("click", async () => {
  setLang(lang === "en" ? "id" : "en", true);
  if (rerender) rerender();
  // The server speaks the session's language: the guidance of the next
  // frame and the result's message follow the choice.
  if (!csrf || !state) return;
  try {
    const res = await api("POST", "lang", JSON.stringify({ lang }), "application/json");
    setState(res.state ?? res);
    if (rerender) rerender();
  } catch (err) {
    console.warn("flow: language", err);
  }
});

// ---------------------------------------------------------------- screens

// show replaces the screen: it stops what the last one started, draws the
// new one and moves focus to its heading (so screen readers announce it).
function show(name, draw) {
  if (cleanup) {
    const c = cleanup;
    cleanup = null;
    try {
      c();
    } catch {
      /* already stopped */
    }
  }
  const changed = screen !== name;
  screen = name;
  document.body.dataset.screen = name;
  const redraw = () => {
    const nodes = draw();
    app.replaceChildren(...nodes);
  };
  rerender = () => {
    const focusedId = document.activeElement?.id;
    redraw();
    // A moved video element pauses: play it on.
    for (const v of app.querySelectorAll("video")) if (v.srcObject) v.play().catch(() => {});
    if (focusedId) document.getElementById(focusedId)?.focus();
  };
  redraw();
  if (changed) {
    const h = app.querySelector("h1");
    if (h) {
      h.setAttribute("tabindex", "-1");
      h.focus({ preventScroll: false });
    }
  }
}

function heading(text) {
  return el("h1", { id: "screen-title" }, text);
}

// canHandoff: Smart QR is on and this is the first device (the phone
// continuing a session cannot hand it on).
function canHandoff() {
  return !!state?.smart_qr && state?.handoff?.device !== "phone";
}

function stepNames(s) {
  return s && Number(s.doc_sides) === 2 ? ["document", "back", "selfie"] : ["document", "selfie"];
}

function progress(step) {
  const steps = stepNames(state);
  const n = steps.indexOf(step) + 1;
  if (n <= 0) return null;
  return el("p", { class: "progress", id: "progress" }, t("step_of", { n, total: steps.length }));
}

function showError(err) {
  if (err instanceof HTTPError) {
    if (err.status === 410 && err.code === "link_unavailable") return drawLinkUnavailable();
    if (err.status === 410) return drawExpired();
    if (err.status === 503) return drawUnavailable();
    if (err.status === 401) return drawNoSession();
    if (err.status === 409) return refresh().catch((e) => console.warn("flow:", e));
  }
  const bar = document.getElementById("flow-error") || app.insertBefore(el("p", { id: "flow-error", class: "error", role: "alert" }), app.firstChild);
  // A photo over the bound of its step (the selfie's is Face Match's,
  // 4096x4096) can be fixed by the person: say how.
  let key = "error_generic";
  if (err instanceof HTTPError && err.code === "too_many_pixels") key = "too_many_pixels";
  else if (offline(err)) key = "offline_error"; // not a fault of the person's photo: say what it is
  bar.textContent = t(key);
  if (err instanceof HTTPError && err.requestId) bar.dataset.requestId = err.requestId;
  console.warn("flow:", err);
}

// route draws the screen for the server's state.
function route(s) {
  setState(s);
  s = state;
  if (!s) return;
  switch (s.stage) {
    case "expired":
      return drawExpired();
    case "done":
      return drawDone();
    case "processing":
      return drawProcessing();
    case "result":
      return drawResult();
    case "handoff":
      return drawHandoff(null);
    case "document":
    case "back":
    case "selfie":
      // Every photo is already at central (a submit lost to the network,
      // the page loaded again): what is left is the submit, not the
      // person's selfie again.
      if (readyToSubmit(s)) return drawSubmit();
      if (!introSeen && s.stage === "document" && !(s.attempt > 1)) return drawIntro();
      return drawCapture(s.stage);
    default:
      return drawProcessing();
  }
}

async function refresh() {
  route(await api("GET", "state"));
}

// ---------------------------------------------------------------- intro

async function detectCamera() {
  if (!navigator.mediaDevices?.getUserMedia) return false;
  if (!navigator.mediaDevices.enumerateDevices) return true;
  try {
    const devs = await navigator.mediaDevices.enumerateDevices();
    return devs.some((d) => d.kind === "videoinput");
  } catch {
    return true; // unknown: let getUserMedia say
  }
}

function drawIntro() {
  show("intro", () => {
    const steps = el("ol", { class: "steps", id: "intro-steps" });
    for (const st of stepNames(state)) steps.append(el("li", {}, t(`step_${st}`)));
    steps.append(el("li", {}, t("step_check")));
    const actions = el("div", { class: "actions" },
      button(t("start"), async () => {
        introSeen = true;
        route(state);
      }, "primary", { id: "start" }));
    if (canHandoff()) actions.append(button(t("use_phone"), () => startHandoff(), "secondary", { id: "use-phone" }));
    return [heading(t("intro_title")), el("p", { class: "lead" }, t("intro_lead")), steps,
      el("p", { class: "data-line", id: "data-line" }, t("data_line")), actions];
  });
  // Smart QR: a device without a camera goes straight to the QR code.
  if (canHandoff()) {
    detectCamera().then((ok) => {
      hasCamera = ok;
      if (!ok && screen === "intro") startHandoff().catch(showError);
    });
  }
}

// ---------------------------------------------------------------- capture

// cameraError names what went wrong opening the camera.
function cameraProblem(err) {
  const n = err?.name || "";
  if (n === "NotAllowedError" || n === "SecurityError" || n === "PermissionDeniedError") return "denied";
  if (n === "NotFoundError" || n === "DevicesNotFoundError" || n === "OverconstrainedError") return "missing";
  if (n === "insecure") return "insecure";
  return "error";
}

async function openCamera(step) {
  if (!navigator.mediaDevices?.getUserMedia) {
    const e = new Error("no mediaDevices");
    e.name = "insecure";
    throw e;
  }
  const facingMode = step === "selfie" ? "user" : "environment";
  const video = { facingMode: { ideal: facingMode }, width: { ideal: 1280 }, height: { ideal: 720 } };
  return navigator.mediaDevices.getUserMedia({ video, audio: false });
}

function stopStream(stream) {
  if (!stream) return;
  for (const track of stream.getTracks()) track.stop();
}

// grab encodes the video's current frame as JPEG, the long side at most max.
function grab(video, max, quality = FRAME_QUALITY) {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh) return Promise.resolve(null);
  const scale = Math.min(1, max / Math.max(vw, vh));
  const c = document.createElement("canvas");
  c.width = Math.round(vw * scale);
  c.height = Math.round(vh * scale);
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  return new Promise((resolve) => c.toBlob((b) => resolve(b), "image/jpeg", quality));
}

// Overlay values come as arrays ([x, y], [x, y, w, h]) or objects
// ({x, y}, {x, y, w, h}, {cx, cy, rx, ry}); both are read.
function pt(p) {
  return Array.isArray(p) ? { x: +p[0], y: +p[1] } : { x: +p.x, y: +p.y };
}
function box(b) {
  return Array.isArray(b) ? { x: +b[0], y: +b[1], w: +b[2], h: +b[3] } : { x: +b.x, y: +b.y, w: +b.w, h: +b.h };
}
function ellipse(o) {
  if (Array.isArray(o)) return { cx: +o[0], cy: +o[1], rx: +o[2], ry: +o[3] };
  return { cx: +(o.cx ?? o.CX), cy: +(o.cy ?? o.CY), rx: +(o.rx ?? o.RX), ry: +(o.ry ?? o.RY) };
}

// draw paints the guide for a w x h frame: the document frame or the face
// oval, the area around it dimmed, and what the server found.
function draw(canvas, step, ov) {
  const w = canvas.width;
  const h = canvas.height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  const fw = ov?.frame_w || w;
  const fh = ov?.frame_h || h;
  const sx = w / fw;
  const sy = h / fh;
  const ready = !!ov?.ready;
  const colour = ready ? "#1db954" : "#ffd23f";
  const lw = Math.max(3, Math.round(Math.min(w, h) / 140));
  g.save();
  g.fillStyle = "rgba(0,0,0,0.45)";
  g.fillRect(0, 0, w, h);
  g.globalCompositeOperation = "destination-out";
  g.beginPath();
  let shape;
  if (step === "selfie") {
    const o = ov?.oval ? ellipse(ov.oval) : null;
    const ry = o ? o.ry * sy : 0.36 * h;
    shape = o
      ? { cx: o.cx * sx, cy: o.cy * sy, rx: o.rx * sx, ry }
      : { cx: 0.5 * w, cy: 0.45 * h, rx: Math.min(0.36 * h * 0.75, 0.46 * w), ry };
    g.ellipse(shape.cx, shape.cy, shape.rx, shape.ry, 0, 0, 2 * Math.PI);
  } else {
    let gw = (w > h ? 0.72 : 0.9) * w;
    let gh = gw / ID1_ASPECT;
    if (gh > 0.8 * h) {
      gh = 0.8 * h;
      gw = gh * ID1_ASPECT;
    }
    shape = { x: (w - gw) / 2, y: (h - gh) / 2, w: gw, h: gh };
    roundRect(g, shape.x, shape.y, shape.w, shape.h, Math.min(gw, gh) * 0.05);
  }
  g.fill();
  g.restore();
  // The guide's outline.
  g.lineWidth = lw;
  g.strokeStyle = ov?.quad || ov?.face ? "rgba(255,255,255,0.85)" : colour;
  g.beginPath();
  if (step === "selfie") g.ellipse(shape.cx, shape.cy, shape.rx, shape.ry, 0, 0, 2 * Math.PI);
  else roundRect(g, shape.x, shape.y, shape.w, shape.h, Math.min(shape.w, shape.h) * 0.05);
  g.stroke();
  // What the server found: the document's corners or the face.
  g.strokeStyle = colour;
  g.lineWidth = lw;
  if (ov?.quad && ov.quad.length === 4) {
    g.beginPath();
    ov.quad.map(pt).forEach((p, i) => (i ? g.lineTo(p.x * sx, p.y * sy) : g.moveTo(p.x * sx, p.y * sy)));
    g.closePath();
    g.stroke();
  }
  if (step === "selfie" && ov?.face) {
    g.beginPath();
    g.ellipse(shape.cx, shape.cy, shape.rx, shape.ry, 0, 0, 2 * Math.PI);
    g.stroke();
  }
}

function roundRect(g, x, y, w, h, r) {
  g.moveTo(x + r, y);
  g.arcTo(x + w, y, x + w, y + h, r);
  g.arcTo(x + w, y + h, x, y + h, r);
  g.arcTo(x, y + h, x, y, r);
  g.arcTo(x, y, x + w, y, r);
  g.closePath();
}

function challengeList(s) {
  const list = el("ol", { class: "challenges", id: "challenges" });
  for (const c of s.challenges || []) {
    const key = typeof c === "string" ? c : c.key || c.code || "";
    const text = typeof c === "string" ? t(c) : c.text || t(key);
    list.append(el("li", { "data-key": key }, text));
  }
  return list;
}

// markChallenges marks the prompt being asked and those before it.
function markChallenges(list, code) {
  const items = [...list.querySelectorAll("li")];
  const cur = items.findIndex((li) => li.dataset.key === code);
  if (cur < 0) return;
  items.forEach((li, i) => {
    li.className = i < cur ? "done" : i === cur ? "current" : "";
    if (i === cur) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  });
}

function drawCapture(step) {
  let stream = null;
  let stopped = false;
  let busy = false; // a capture is being sent
  let timer = 0;
  let lastCode = "";
  let lastOverlay = null;
  const video = el("video", { id: "preview", playsinline: true, muted: true, autoplay: true, "aria-hidden": "true" });
  video.muted = true;
  const canvas = el("canvas", { id: "overlay", width: 1280, height: 720, "aria-hidden": "true" });
  const guidance = el("p", { id: "guidance", class: "guidance", role: "status", "aria-live": "polite", "aria-atomic": "true" }, t("camera_starting"));
  const hint = el("p", { id: "guidance-hint", class: "hint", "aria-live": "polite" });
  const manual = button(t("take_photo"), () => manualCapture(), "secondary", { id: "manual-capture", hidden: true });
  const challenges = step === "selfie" && state.challenges?.length ? challengeList(state) : null;

  // The manual capture waits a few seconds so that the guide gets its
  // chance, but a person on a keyboard, a switch or a screen reader may
  // not frame the card by sight: any key shows it at once, so Tab reaches it.
  const reveal = (e) => {
    if (!stopped && !["Shift", "Control", "Alt", "Meta"].includes(e.key)) manual.hidden = false;
  };
  document.addEventListener("keydown", reveal, true);

  const stop = () => {
    stopped = true;
    document.removeEventListener("keydown", reveal, true);
    clearTimeout(timer);
    stopStream(stream);
    stream = null;
    video.srcObject = null;
  };

  show(`capture-${step}`, () => {
    manual.textContent = t("take_photo");
    const stage = el("div", { class: `stage ${step === "selfie" ? "mirror" : ""}`, id: "stage" }, canvas, video);
    const extra = challenges ? [el("p", { class: "challenges-lead" }, t("challenges")), challenges] : [];
    const phone = canHandoff()
      ? button(t("use_phone"), () => startHandoff(), "link", { id: "use-phone" })
      : null;
    return [progress(step), heading(t(`title_${step}`)), el("p", { class: "lead" }, t(`hint_${step}`)),
      stage, guidance, hint, ...extra, el("div", { class: "actions" }, manual, phone)];
  });
  cleanup = stop;

  const manualCapture = async () => {
    if (busy) return;
    busy = true;
    try {
      const blob = await grab(video, CAPTURE_WIDTH, 0.9);
      if (!blob) return;
      guidance.textContent = t("sending");
      const res = await api("POST", `capture?step=${step}`, blob, "image/jpeg");
      if (stopped) return;
      await afterCapture(step, res.state ?? res);
    } catch (err) {
      if (stopped) return;
      // The guidance said "sending": say what happened instead.
      if (err instanceof HTTPError && err.status === 429) {
        guidance.textContent = t("capture_wait");
      } else {
        guidance.textContent = "";
        showError(err);
      }
    } finally {
      busy = false;
    }
  };

  // handle shows one frame's answer; true when the step is over.
  const handle = (res) => {
    if (res.state) setState(res.state);
    lastOverlay = res.overlay || null;
    const msgs = lastOverlay?.messages || [];
    const main = msgs[0];
    if (main && main.code !== lastCode) {
      lastCode = main.code;
      guidance.textContent = main.text;
      guidance.dataset.code = main.code;
    }
    const h = msgs.slice(1).map((m) => m.text).join(" ");
    if (hint.textContent !== h) hint.textContent = h;
    guidance.classList.toggle("ready", !!lastOverlay?.ready);
    if (challenges) markChallenges(challenges, lastOverlay?.step || main?.code || "");
    draw(canvas, step, lastOverlay);
    if (res.captured) {
      busy = true;
      guidance.textContent = t("captured");
      guidance.classList.add("ready");
      stopStream(stream);
      afterCapture(step, res.state).catch(showError);
      return true;
    }
    // The step's capture at central already (one whose answer the network
    // lost): on to the next step or the submit, not capturing again.
    if (res.state && (res.state.stage !== step || readyToSubmit(res.state))) {
      route(res.state);
      return true;
    }
    return false;
  };

  // loop sends a frame, waits for its answer, then the next: never more
  // than one in flight, at most one every FRAME_INTERVAL_MS.
  const loop = async () => {
    let backoff = 0;
    while (!stopped) {
      const t0 = performance.now();
      if (!busy) {
        try {
          // The frame that auto-captures is kept as the capture itself, so
          // it goes at the quality of a photo: at 0.8 the JPEG's blocking
          // trips the document's compression-grid check on genuine cards.
          const blob = await grab(video, FRAME_WIDTH, FRAME_QUALITY);
          if (stopped) return;
          if (blob) {
            const res = await api("POST", `frame?step=${step}`, blob, "image/jpeg");
            if (stopped) return;
            backoff = 0;
            // While a manual capture is being sent its answer decides.
            if (!busy && handle(res)) return;
          }
        } catch (err) {
          if (stopped) return;
          if (err instanceof HTTPError && err.status === 429) {
            backoff = 1000;
          } else if (err instanceof HTTPError && err.status === 503 && err.code === "guidance_busy") {
            backoff = 2000; // central holds all the frames it may: send a later one
          } else if (err instanceof HTTPError && [401, 409, 410, 503].includes(err.status)) {
            return showError(err);
          } else if (err instanceof HTTPError && err.status < 500) {
            backoff = 1000; // e.g. a frame refused: send the next one
            console.warn("flow: frame refused", err.code);
          } else {
            hint.textContent = t("network");
            backoff = Math.min(5000, (backoff || 500) * 2);
          }
        }
      }
      const wait = Math.max(FRAME_INTERVAL_MS - (performance.now() - t0), 0) + backoff;
      await new Promise((r) => {
        timer = setTimeout(r, wait);
      });
    }
  };

  (async () => {
    try {
      stream = await openCamera(step);
    } catch (err) {
      if (!stopped) drawCameraProblem(step, cameraProblem(err));
      return;
    }
    if (stopped) return stopStream(stream);
    hasCamera = true;
    video.srcObject = stream;
    try {
      await video.play();
    } catch {
      /* autoplay: muted inline video plays; the frames still flow */
    }
    if (!video.videoWidth) await new Promise((r) => video.addEventListener("loadedmetadata", r, { once: true }));
    if (stopped) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    draw(canvas, step, null);
    guidance.textContent = step === "selfie" ? t("hint_selfie") : t("hint_document");
    timer = setTimeout(() => {
      if (!stopped) manual.hidden = false;
    }, MANUAL_AFTER_MS);
    loop();
  })();
}

// afterCapture goes on from a step's capture: to the next step the server
// names, or, after the last one, submits.
async function afterCapture(step, s) {
  setState(s);
  s = state;
  const st = s?.stage;
  if (CAPTURE_STAGES.includes(st) && st !== step) return route(s);
  if (st === "processing" || st === "result" || st === "done" || st === "expired" || st === "handoff") return route(s);
  const steps = stepNames(s);
  if (step === steps[steps.length - 1] || !CAPTURE_STAGES.includes(st)) return drawSubmit();
  return route(s);
}

// ---------------------------------------------------------------- camera problems and upload

function drawCameraProblem(step, kind) {
  show(`camera-${kind}`, () => {
    const title = kind === "missing" || kind === "insecure" ? t("camera_missing_title") : t("camera_denied_title");
    const text = { denied: "camera_denied_text", missing: "camera_missing_text", insecure: "camera_insecure_text" }[kind] || "camera_error_text";
    const nodes = [progress(step), heading(title), el("p", { class: "lead", id: "camera-problem", role: "alert" }, t(text)),
      el("div", { class: "actions" }, button(t("camera_retry"), async () => drawCapture(step), "primary", { id: "camera-retry" }))];
    if (canHandoff()) {
      nodes.push(el("p", {}, t("or_phone")),
        el("div", { class: "actions" }, button(t("use_phone"), () => startHandoff(), "secondary", { id: "use-phone" })));
    }
    if (state.allow_upload) nodes.push(uploadForm(step));
    return nodes;
  });
}

function uploadForm(step) {
  const id = `upload-${step}`;
  const input = el("input", {
    type: "file", id, name: id, accept: "image/*", capture: step === "selfie" ? "user" : "environment", class: "file",
  });
  const msg = el("p", { class: "hint", id: `${id}-status`, role: "status", "aria-live": "polite" });
  input.addEventListener("change", async () => {
    const f = input.files?.[0];
    if (!f) return;
    if (f.size > UPLOAD_MAX) {
      msg.textContent = t("upload_too_big");
      return;
    }
    input.disabled = true;
    msg.textContent = t("sending");
    try {
      const type = /^image\/(jpeg|png)$/.test(f.type) ? f.type : "image/jpeg";
      const res = await api("POST", `capture?step=${step}&source=upload`, f, type);
      await afterCapture(step, res.state ?? res);
    } catch (err) {
      input.disabled = false;
      // The same photo chosen again must fire a change: let this one go.
      input.value = "";
      msg.textContent = "";
      showError(err);
    }
  });
  return el("section", { class: "upload", "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title` }, t("upload_title")),
    el("label", { for: id, class: "file-label" }, t(`upload_${step}`)), input, msg);
}

// ---------------------------------------------------------------- processing

function pollUntil(done, every) {
  let stopped = false;
  let timer = 0;
  let wait = every; // longer while the connection is lost, so an offline page does not spin
  const tick = async () => {
    if (stopped) return;
    try {
      const s = await api("GET", "state");
      if (stopped) return;
      setState(s);
      if (done(s)) {
        stopped = true;
        return route(s);
      }
      const status = document.getElementById("net-status");
      if (status) status.textContent = "";
      wait = every;
    } catch (err) {
      if (stopped) return;
      if (err instanceof HTTPError && [401, 410, 503].includes(err.status)) {
        stopped = true;
        return showError(err);
      }
      const status = document.getElementById("net-status");
      if (status) status.textContent = t("network");
      if (offline(err)) wait = Math.min(POLL_MAX_MS, wait * 2);
    }
    timer = setTimeout(tick, wait);
  };
  timer = setTimeout(tick, every);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// readyToSubmit: s holds every capture its steps need and waits for the
// submit (central answers the capture stage of the last step until then).
function readyToSubmit(s) {
  const c = s?.captures || {};
  return s?.stage === "selfie" && !!c.document && !!c.selfie && (Number(s.doc_sides) !== 2 || !!c.back);
}

// drawSubmit sends the captures to be verified. The photos are at central
// already; a submit lost to the network (no answer) is sent again, after
// a wait that doubles each time, at once when the browser is back online
// or on the person's tap, never by capturing again (so is one central
// failed, with the generic message). central's submit is
// idempotent: one already running answers its processing state, one
// already done 409 (the page then follows the session to where it stands).
function drawSubmit() {
  let stopped = false;
  let timer = 0;
  let delay = SUBMIT_RETRY_MS;
  let inFlight = false;
  const now = button(t("submit_now"), async () => send(), "secondary", { id: "submit-now", hidden: true });
  show("processing", () => {
    now.textContent = t("submit_now");
    return [heading(t("processing_title")),
      el("div", { class: "loader", "aria-hidden": "true" }),
      el("p", { class: "lead", role: "status", "aria-live": "polite", id: "processing-status" }, t("processing_lead")),
      el("p", { class: "hint", id: "net-status", "aria-live": "polite" }), el("div", { class: "actions" }, now)];
  });
  const send = async () => {
    if (stopped || inFlight) return;
    clearTimeout(timer);
    inFlight = true;
    try {
      const res = await api("POST", "submit");
      if (stopped) return;
      stop();
      route(res.state ?? res);
    } catch (err) {
      if (stopped) return;
      if (err instanceof HTTPError && err.status === 409) {
        // Sent before (its answer lost) and verified already, or another
        // device's: follow the session to where it stands.
        stop();
        return drawProcessing();
      }
      if (err instanceof HTTPError && [401, 410, 503].includes(err.status)) {
        stop();
        return showError(err);
      }
      // Anything else (most often the network) is sent again, never at
      // once: the wait doubles each time.
      const status = document.getElementById("net-status");
      if (status) status.textContent = t(offline(err) ? "submit_offline" : "error_generic");
      now.hidden = false;
      timer = setTimeout(send, delay);
      delay = Math.min(SUBMIT_RETRY_MAX_MS, delay * 2);
    } finally {
      inFlight = false;
    }
  };
  const online = () => send();
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener("online", online);
  };
  window.addEventListener("online", online);
  cleanup = stop;
  send();
}

function drawProcessing() {
  show("processing", () => [
    heading(t("processing_title")),
    el("div", { class: "loader", "aria-hidden": "true" }),
    el("p", { class: "lead", role: "status", "aria-live": "polite", id: "processing-status" }, t("processing_lead")),
    el("p", { class: "hint", id: "net-status", "aria-live": "polite" }),
  ]);
  cleanup = pollUntil((s) => s.stage !== "processing", POLL_MS);
}

// ---------------------------------------------------------------- result

function drawResult() {
  const s = state;
  const action = s.next_action;
  if (action === "EXIT") {
    show("exit", () => [heading(t("closing")), el("div", { class: "loader", "aria-hidden": "true" })]);
    finish().catch(showError);
    return;
  }
  if (action === "RETRY") {
    show("retry", () => {
      const nodes = [heading(t(s.message_key === "liveness_challenge" ? "one_more_step" : "retry_title")),
        el("p", { class: "lead", id: "result-message", role: "status" }, state.message || t("retry_generic"))];
      if (s.max_retries) nodes.push(el("p", { class: "hint", id: "attempt" }, t("attempt", { n: Math.min(s.attempt + 1, s.max_retries), max: s.max_retries })));
      nodes.push(el("div", { class: "actions" },
        button(t("retry"), async () => {
          const res = await api("POST", "retry");
          introSeen = true;
          route(res.state ?? res);
        }, "primary", { id: "retry" }),
        button(t("exit"), () => finish(), "secondary", { id: "exit" })));
      return nodes;
    });
    return;
  }
  const ok = s.status === "COMPLETED";
  show(ok ? "success" : "error", () => {
    const nodes = [
      el("div", { class: `badge ${ok ? "ok" : "bad"}`, "aria-hidden": "true" }, ok ? "\u2713" : "!"),
      heading(ok ? t("success_title") : t("error_title")),
      el("p", { class: "lead", id: "result-message", role: "status" }, state.message || ""),
    ];
    if (!s.hide_cta) nodes.push(el("div", { class: "actions" }, button(t("continue"), () => finish(), "primary", { id: "cta" })));
    else nodes.push(el("p", { class: "hint" }, t("close_page")));
    return nodes;
  });
  document.body.dataset.result = ok ? "success" : "error";
}

// finish sends the partner's callback: POST finish gives the redirect; a
// framed page also tells its parent (the partner's origins the server
// names, never "*"), then the page goes to the redirect.
async function finish() {
  let redirect = "";
  let cb = state?.callback || { status: state?.status, error_code: state?.error_code, session_id: "" };
  let refused = false;
  try {
    const res = await api("POST", "finish");
    redirect = res?.redirect || "";
    if (res?.callback) cb = res.callback;
  } catch (err) {
    // The server refuses to finish a session that asks for another
    // attempt: the person leaves it (RETRY's exit) all the same.
    if (!(err instanceof HTTPError && err.status === 409)) throw err;
    refused = true;
  }
  const msg = { type: "kyc.flow.result", status: cb.status || (refused ? "ERROR" : ""), error_code: cb.error_code || (refused ? "user_exit" : ""), session_id: cb.session_id || "" };
  let url = null;
  try {
    if (redirect) url = new URL(redirect, location.href);
    else if (state?.redirect_url) {
      url = new URL(state.redirect_url, location.href);
      for (const k of ["status", "error_code", "session_id"]) url.searchParams.set(k, msg[k]);
    }
  } catch {
    url = null;
  }
  tellParent(msg);
  document.body.dataset.callback = JSON.stringify(msg);
  if (url && (url.protocol === "https:" || url.protocol === "http:")) {
    show("leaving", () => [heading(t("closing")), el("div", { class: "loader", "aria-hidden": "true" })]);
    location.assign(url.href);
    return;
  }
  drawDone();
}

// told is set once the framing parent heard the session's end.
let told = false;

// tellParent posts the session's end to a framing parent: to each origin
// the server allows to frame this session (never "*"), so only a parent of
// one of them receives it. Once: a session ends once.
function tellParent(msg) {
  if (told || window.parent === window) return;
  told = true;
  for (const origin of state?.embed_origins || []) {
    try {
      window.parent.postMessage(msg, origin);
    } catch {
      /* not a valid origin: the redirect still carries the result */
    }
  }
}

// ---------------------------------------------------------------- Smart QR

async function startHandoff() {
  const res = await api("POST", "handoff");
  drawHandoff(res);
}

// drawHandoff shows the QR code and the short code (h, from POST handoff)
// or, without them, that the phone has the session; either way it follows
// the session to its result.
function drawHandoff(h) {
  const phoneHasIt = (s) => s?.stage === "handoff" || s?.handoff?.device === "phone";
  const active = phoneHasIt(state);
  show("handoff", () => {
    const nodes = [heading(t("handoff_title"))];
    if (h) {
      nodes.push(el("p", { class: "lead" }, t("handoff_lead")));
      const qr = qrNode(h.qr_svg);
      if (qr) nodes.push(el("figure", { class: "qr", id: "qr" }, qr));
      let where = "";
      try {
        const u = new URL(h.url, location.href);
        where = `${u.host}/flow/code`;
      } catch {
        where = `${location.host}/flow/code`;
      }
      nodes.push(el("p", {}, t("handoff_code_lead", { url: where })),
        // A paragraph may not be named (aria-label): screen readers hear
        // the code letter by letter from a hidden twin instead.
        el("p", { class: "code" }, el("span", { class: "sr-only" }, `${t("handoff_code")}: ${String(h.short_code || "").split("").join(" ")}`),
          el("span", { id: "short-code", "aria-hidden": "true" }, h.short_code || "")));
    } else {
      nodes.push(el("div", { class: "loader", "aria-hidden": "true" }));
    }
    nodes.push(el("p", { class: "hint", id: "handoff-status", role: "status", "aria-live": "polite" },
      active || !h ? t("handoff_active") : t("handoff_waiting")));
    if (!h && !active) nodes.push(el("div", { class: "actions" }, button(t("handoff_again"), () => startHandoff(), "secondary", { id: "handoff-again" })));
    nodes.push(el("p", { class: "hint", id: "net-status", "aria-live": "polite" }));
    return nodes;
  });
  let wasActive = active;
  cleanup = pollUntil((s) => {
    if (phoneHasIt(s) && !wasActive) {
      wasActive = true;
      const st = document.getElementById("handoff-status");
      if (st) st.textContent = t("handoff_active");
    }
    return ["processing", "result", "done", "expired"].includes(s.stage);
  }, FOLLOW_MS);
}

// qrNode parses the server's SVG (its own markup, never the person's) into
// a node, keeping only the svg element.
function qrNode(text) {
  if (!text) return null;
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (!svg || svg.nodeName.toLowerCase() !== "svg" || doc.querySelector("parsererror")) return null;
  for (const s of svg.querySelectorAll("script, foreignObject")) s.remove();
  const node = document.importNode(svg, true);
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", t("qr_alt"));
  node.setAttribute("class", "qr-code");
  node.removeAttribute("width");
  node.removeAttribute("height");
  return node;
}

// ---------------------------------------------------------------- end states

function drawExpired() {
  show("expired", () => [heading(t("expired_title")), el("p", { class: "lead", role: "status" }, t("expired_text"))]);
  // The session ended without a result: a framing partner hears it as
  // any end (status ERROR, error_code session_expired), or its page
  // would wait on the frame for good.
  tellParent({ type: "kyc.flow.result", status: "ERROR", error_code: "session_expired", session_id: state?.callback?.session_id || "" });
}

function drawLinkUnavailable() {
  show("link-unavailable", () => [heading(t("link_unavailable_title")), el("p", { class: "lead", role: "status" }, t("link_unavailable_text"))]);
}

function drawDone() {
  show("done", () => [heading(t("done_title")), el("p", { class: "lead", role: "status" }, t("close_page"))]);
}

function drawNoSession() {
  show("no-session", () => [heading(t("no_session_title")), el("p", { class: "lead", role: "status" }, t("no_session_text"))]);
}

function drawUnavailable() {
  show("unavailable", () => [heading(t("unavailable_title")), el("p", { class: "lead", role: "status" }, t("unavailable_text"))]);
}

// ---------------------------------------------------------------- start

// A hidden page stops its camera; coming back draws the screen again.
document.addEventListener("visibilitychange", () => {
  if (document.hidden && screen.startsWith("capture-")) {
    if (cleanup) cleanup();
    cleanup = null;
  } else if (!document.hidden && screen.startsWith("capture-")) {
    refresh().catch(showError);
  }
});
window.addEventListener("pagehide", () => {
  if (cleanup) cleanup();
  cleanup = null;
});

// The page's first state lost to the network says "retrying": it does,
// at once when the browser is back online, else after a wait that doubles.
let startTimer = 0;
let startDelay = SUBMIT_RETRY_MS;

async function start() {
  clearTimeout(startTimer);
  setLang(lang, !!root.dataset.lang);
  try {
    await refresh();
  } catch (err) {
    if (err instanceof HTTPError && (err.status === 401 || err.status === 403 || err.status === 404)) return drawNoSession();
    if (err instanceof HTTPError && !offline(err)) return showError(err);
    if (screen !== "offline") {
      show("offline", () => [heading(t("offline_title")), el("p", { class: "lead", role: "alert" }, t("network")),
        el("div", { class: "actions" }, button(t("retry"), () => start(), "primary", { id: "reload" }))]);
    }
    startTimer = setTimeout(start, startDelay);
    startDelay = Math.min(SUBMIT_RETRY_MAX_MS, startDelay * 2);
  }
}

window.addEventListener("online", () => {
  if (screen === "offline") start();
});

start();
