import "./style.css";
import { backend, AppBinding, FrameView, HomeInfo, QueueItem, QueueView, View } from "./api";

const root = document.querySelector<HTMLDivElement>("#app")!;
let b: AppBinding;
let view: View | null = null;
let renderedRev = -1;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// The words of the screens in English and Indonesian; guidance and result
// messages come translated from the Go side.
const words: Record<string, [string, string]> = {
  subtitle: ["on-device identity verification", "verifikasi identitas di perangkat"],
  signIn: ["Operator sign-in", "Masuk operator"],
  firstRun: ["No operator yet: this creates the first account.", "Belum ada operator: ini membuat akun pertama."],
  name: ["Operator", "Operator"], pass: ["Passphrase", "Kata sandi"], enter: ["Sign in", "Masuk"],
  newVerification: ["New verification", "Verifikasi baru"], queue: ["Submissions", "Pengajuan"],
  settings: ["Settings", "Pengaturan"], signOut: ["Sign out", "Keluar"], cancel: ["Cancel", "Batal"],
  docType: ["Document type", "Jenis dokumen"], country: ["Country", "Negara"], next: ["Continue", "Lanjut"],
  docCapture: ["Document", "Dokumen"], selfie: ["Selfie", "Swafoto"], processing: ["Verifying…", "Memverifikasi…"],
  challenge: ["Follow the instructions", "Ikuti petunjuk"],
  retry: ["Try again", "Coba lagi"], status: ["Check status", "Cek status"], done: ["Done", "Selesai"],
  operatorView: ["Operator details", "Detail operator"], save: ["Save", "Simpan"], back: ["Back", "Kembali"],
  blocked: ["This device cannot run verifications", "Perangkat ini tidak dapat menjalankan verifikasi"],
  starting: ["Checking the device…", "Memeriksa perangkat…"],
  syncNow: ["Sync now", "Sinkronkan"], requeue: ["Send again", "Kirim ulang"],
  review: ["Central review", "Tinjauan pusat"], approve: ["approved", "disetujui"], reject: ["rejected", "ditolak"],
  resubmit: ["resubmission requested", "diminta kirim ulang"], claimed: ["in review", "sedang ditinjau"],
  second_review: ["awaiting a second reviewer", "menunggu peninjau kedua"], open: ["waiting for review", "menunggu tinjauan"],
  online: ["online", "terhubung"], offline: ["offline", "tidak terhubung"],
  national_id: ["National ID card", "KTP"], passport: ["Passport", "Paspor"], driving_license: ["Driving licence", "SIM"],
};
function t(key: string): string {
  const w = words[key];
  if (!w) return key;
  return view?.lang === "id" ? w[1] : w[0];
}

function button(id: string, label: string, onClick: () => Promise<unknown>, cls = "primary"): HTMLButtonElement {
  const btn = el("button", { id, class: cls }, label);
  btn.addEventListener("click", () => {
    btn.disabled = true;
    onClick().then(refresh, showError).finally(() => { btn.disabled = false; });
  });
  return btn;
}

function showError(err: unknown): void {
  const bar = document.querySelector("#error");
  if (bar) bar.textContent = String(err);
  void refresh();
}

function badge(ok: boolean, okText: string, badText: string): HTMLElement {
  return el("span", { class: ok ? "badge ok" : "badge bad" }, ok ? okText : badText);
}

function frame(v: View, ...content: Node[]): void {
  const head = el("header", {}, el("h1", {}, "OpenKYC"), el("span", { class: "muted" }, t("subtitle")));
  if (v.operator) head.append(el("span", { class: "operator" }, v.operator));
  const err = el("p", { id: "error", class: "error" }, v.error ?? "");
  root.replaceChildren(head, err, el("main", { id: `screen-${v.screen}`, class: `screen ${v.screen}` }, ...content));
  document.body.dataset.screen = v.screen;
}

function engineCards(h: HomeInfo): Node[] {
  const runtime = el("section", { class: "card", id: "runtime" }, el("h2", {}, "Engine"),
    el("dl", {}, el("dt", {}, "Version"), el("dd", {}, h.version), el("dt", {}, "ONNX Runtime"), el("dd", {}, h.onnxruntime || "not loaded"),
      el("dt", {}, "OpenCV"), el("dd", {}, h.opencv)));
  if (h.runtime_error) runtime.append(el("p", { class: "error" }, h.runtime_error));
  const table = el("table", {}, el("tr", {}, el("th", {}, "Model"), el("th", {}, "Version"), el("th", {}, "Status")));
  for (const m of h.models) {
    table.append(el("tr", {}, el("td", {}, m.name), el("td", {}, m.version),
      el("td", {}, badge(m.verified, "verified", m.problem ? "missing or corrupt" : "not installed"))));
  }
  return [runtime, el("section", { class: "card", id: "models" }, el("h2", {}, "Models ", badge(h.models_ok, "all verified", "action needed")), table)];
}

function deviceCard(v: View): HTMLElement {
  const d = v.device;
  const card = el("section", { class: "card wide", id: "device" });
  if (!d) return card;
  card.append(el("h2", {}, `Device check (${d.profile}) `, el("span", { class: `badge ${d.verdict}` }, d.verdict)));
  if (d.error) card.append(el("p", { class: "error" }, d.error));
  const ul = el("ul", { class: "findings" });
  for (const f of d.findings.slice(0, 6)) {
    ul.append(el("li", {}, el("span", { class: `badge ${f.status === "fail" ? "block" : "warn"}` }, f.status), ` ${f.name.replace(/_/g, " ")}`));
  }
  card.append(ul);
  return card;
}

async function renderSignIn(v: View): Promise<void> {
  const name = el("input", { id: "operator", autocomplete: "off" });
  const pass = el("input", { id: "passphrase", type: "password" });
  const form = el("section", { class: "card", id: "sign-in" }, el("h2", {}, t("signIn")),
    v.first_run ? el("p", { class: "muted" }, t("firstRun")) : "",
    el("label", {}, t("name"), name), el("label", {}, t("pass"), pass),
    button("sign-in-button", t("enter"), () => b.SignIn(name.value, pass.value)),
    button("open-settings", t("settings"), () => b.OpenSettings(), "secondary"));
  frame(v, form, deviceCard(v));
  const h = await b.Home();
  if (view?.rev === v.rev) document.querySelector("main")?.append(...engineCards(h));
}

async function renderHome(v: View): Promise<void> {
  const start = button("start", t("newVerification"), () => b.StartSession());
  start.toggleAttribute("disabled", !!v.vault_error);
  const queue = el("section", { class: "card wide", id: "queue" }, el("h2", {}, t("queue")));
  frame(v, el("section", { class: "card", id: "actions" }, start,
    button("open-settings", t("settings"), () => b.OpenSettings(), "secondary"),
    button("sign-out", t("signOut"), () => b.SignOut(), "secondary"),
    v.vault_error ? el("p", { class: "error" }, v.vault_error) : ""), deviceCard(v), queue);
  const q: QueueView = await b.Queue();
  if (view?.rev !== v.rev) return; // a newer view is being drawn
  queue.append(...syncLines(q));
  const table = el("table", { id: "queue-table" },
    el("tr", {}, el("th", {}, "Submission"), el("th", {}, "Time"), el("th", {}, "Sync"), el("th", {}, t("review")), el("th", {}, "")));
  for (const it of q.items) {
    const action = it.state === "rejected"
      ? button(`requeue-${it.id}`, t("requeue"), () => b.Requeue(it.id), "secondary requeue")
      : "";
    table.append(el("tr", { "data-state": it.state, "data-id": it.id }, el("td", {}, it.id), el("td", {}, new Date(it.created_at).toLocaleString()),
      el("td", {}, el("span", { class: `badge sync-${it.state.replace(" ", "-")}` }, it.state + (it.attempts > 1 ? ` (${it.attempts})` : "")),
        it.state === "rejected" && it.reason ? el("span", { class: "muted reason" }, ` ${it.reason}`) : ""),
      el("td", { class: "review", "data-review": it.review?.outcome ?? it.review?.state ?? "" }, reviewText(it)),
      el("td", {}, action)));
  }
  queue.append(table);
}

// reviewText says where central's reviewers stand on a submission: the
// decision (with its reason) once made, else the case's state.
function reviewText(it: QueueItem): string {
  const r = it.review;
  if (!r) return "";
  if (r.state === "decided" && r.outcome) return t(r.outcome) + (r.reason ? ` (${r.reason})` : "");
  return t(r.state);
}

// syncLines say what the last sync pass found: central reachable or not,
// when it last answered, what waits, the last error in words, and the
// configuration verifications run on.
function syncLines(q: QueueView): Node[] {
  const s = q.sync;
  const when = (iso?: string) => (iso ? new Date(iso).toLocaleString() : "never");
  const out: Node[] = [];
  if (s.enrolled) {
    const state = el("span", { class: `badge ${s.online ? "ok" : "bad"}`, id: "sync-state" }, s.online ? t("online") : t("offline"));
    const waiting = s.queue_depth > 0 ? `, ${s.queue_depth} waiting since ${when(s.oldest_queued)}` : ", nothing waiting";
    const refused = s.rejected > 0 ? `, ${s.rejected} refused` : "";
    out.push(el("p", { id: "sync", class: "muted" }, `Central ${s.central_url} `, state,
      ` last contact ${when(s.last_contact)}${waiting}${refused}`),
      button("sync-now", t("syncNow"), () => b.SyncNow(), "secondary"));
  } else {
    out.push(el("p", { id: "sync", class: "muted" }, "Not enrolled with central: submissions stay queued in the vault (kyc enroll)."));
  }
  if (s.last_error) out.push(el("p", { class: "error", id: "sync-error" }, s.last_error));
  if (q.error) out.push(el("p", { class: "error" }, q.error));
  const lists = q.config.watchlists.length ? q.config.watchlists.join(", ") : "none (the sanctions signal is missing)";
  out.push(el("p", { id: "config-in-use", class: "muted" },
    `Screening against ${lists}; risk configuration: ${q.config.risk ? "central's" : "built-in defaults"}`));
  for (const p of q.config.problems ?? []) out.push(el("p", { class: "error config-problem" }, p));
  return out;
}

async function renderSettings(v: View): Promise<void> {
  const sv = await b.Settings();
  // A camera is picked from the attached ones or typed: a video file, an
  // image folder or a stream URL. Empty is the demo video.
  const list = el("datalist", { id: "camera-list" });
  for (const c of sv.cameras) list.append(el("option", { value: c.source }, c.label));
  const camInput = (id: string, value: string) => el("input", { id, list: "camera-list", value, placeholder: "demo video" });
  const docCam = camInput("document-camera", sv.settings.document_camera);
  const selfieCam = camInput("selfie-camera", sv.settings.selfie_camera);
  const lang = el("select", { id: "lang" }, el("option", { value: "en" }, "English"), el("option", { value: "id" }, "Bahasa Indonesia"));
  lang.value = sv.settings.lang;
  const kiosk = el("input", { id: "kiosk", type: "checkbox" });
  kiosk.checked = sv.settings.kiosk;
  const idle = el("input", { id: "idle", type: "number", min: "10", max: "3600", value: String(sv.settings.idle_seconds) });
  frame(v, el("section", { class: "card wide", id: "settings" }, el("h2", {}, t("settings")), list,
    el("label", {}, "Document camera", docCam), el("label", {}, "Selfie camera", selfieCam),
    el("label", {}, "Language", lang), el("label", {}, "Idle timeout (s)", idle),
    el("label", { class: "inline" }, kiosk, " Kiosk mode (fullscreen, single instance; applies on restart)"),
    button("save-settings", t("save"), () => b.SaveSettings({ document_camera: docCam.value, selfie_camera: selfieCam.value,
      lang: lang.value as "en" | "id", kiosk: kiosk.checked, idle_seconds: Number(idle.value) })),
    button("close-settings", t("back"), () => b.CloseSettings(), "secondary")));
}

function renderDocumentSelect(v: View): void {
  const doc = el("select", { id: "doc-type" });
  for (const d of v.config.accepted_documents) doc.append(el("option", { value: d }, t(d)));
  const country = el("select", { id: "country" });
  for (const c of v.config.accepted_countries) country.append(el("option", { value: c }, c));
  frame(v, el("section", { class: "card wide" }, el("h2", {}, t("docType")),
    el("label", {}, t("docType"), doc), el("label", {}, t("country"), country),
    button("choose-document", t("next"), () => b.ChooseDocument(doc.value, country.value)),
    button("cancel", t("cancel"), () => b.Finish(), "secondary")));
}

function renderCapture(v: View): void {
  const s = v.session!;
  const ch = v.screen === "capture_selfie" ? s.challenge : undefined;
  const title = v.screen === "capture_document" ? `${t("docCapture")}: ${t(s.doc_type)} (${s.country})` : ch ? t("challenge") : t("selfie");
  const steps = el("p", { id: "steps", class: "muted" }, `attempt ${s.attempt} · captured: ${s.captured.join(", ") || "—"}`);
  const img = el("img", { id: "preview", alt: "" });
  const overlay = svg("svg", { id: "overlay", preserveAspectRatio: "none" });
  const msg = el("p", { id: "guidance", class: "guidance" }, "…");
  const fps = el("span", { id: "fps", class: "muted" });
  const stage = el("div", { class: "stage" }, img, overlay);
  const cancel = button("cancel", t("cancel"), () => b.Finish(), "secondary");
  if (!ch) {
    frame(v, el("section", { class: "card wide capture" }, el("h2", {}, title, " ", fps), steps, stage, msg, cancel));
    void pullFrames(v.rev, img, overlay as SVGSVGElement, msg, fps);
    return;
  }
  // A challenge: beside the camera, the customer sees the generic
  // instruction, the prompts (the current one marked from the preview)
  // and the live guidance; the operator where it came from. Nothing says
  // why.
  const prompts = el("ol", { id: "challenge-prompts", class: "prompts" });
  for (const p of ch.prompts) prompts.append(el("li", { "data-key": p.key }, p.text));
  const side = el("div", { class: "side" });
  if (ch.message) side.append(el("p", { id: "challenge-message", class: "customer" }, ch.message));
  side.append(prompts, msg, cancel);
  if (ch.requested_by) {
    side.append(el("details", { id: "operator-view" }, el("summary", {}, t("operatorView")),
      el("dl", {}, el("dt", {}, "Liveness path"), el("dd", { id: "liveness-path" }, ch.liveness_path ?? ""),
        el("dt", {}, "Asked by"), el("dd", { id: "requested-by" }, ch.requested_by),
        el("dt", {}, "Time allowed"), el("dd", {}, `${ch.seconds} s from the first prompt`))));
  }
  frame(v, el("section", { class: "card wide capture challenge" }, el("h2", {}, title, " ", fps), steps,
    el("div", { class: "challenge-layout" }, stage, side)));
  void pullFrames(v.rev, img, overlay as SVGSVGElement, msg, fps, prompts);
}

// markPrompt marks the prompt being asked (the overlay's step) and those
// followed before it, or it, once captured.
function markPrompt(list: HTMLOListElement, step: string, captured: string): void {
  const items = Array.from(list.querySelectorAll<HTMLLIElement>("li"));
  let current = items.findIndex((li) => li.dataset.key === step);
  if (current >= 0 && captured === step) current++;
  items.forEach((li, i) => { li.className = current < 0 ? "" : i < current ? "done" : i === current ? "current" : ""; });
}

// pullFrames shows the Go side's preview frames while this view is current.
async function pullFrames(rev: number, img: HTMLImageElement, overlay: SVGSVGElement, msg: HTMLElement, fps: HTMLElement,
  prompts?: HTMLOListElement): Promise<void> {
  let seq = 0;
  while (view?.rev === rev) {
    const f: FrameView = await b.Frame(seq);
    if (view?.rev !== rev) break;
    if (f.seq === seq || !f.jpeg) continue;
    seq = f.seq;
    img.src = f.jpeg;
    if (img.parentElement) img.parentElement.style.aspectRatio = `${f.width} / ${f.height}`;
    drawOverlay(overlay, f);
    msg.textContent = f.message;
    msg.dataset.key = f.overlay?.message ?? "";
    if (prompts) markPrompt(prompts, f.overlay?.step ?? "", f.overlay?.captured ?? "");
    fps.textContent = `${f.fps.toFixed(0)} fps`;
    document.body.dataset.previewSeq = String(seq);
  }
}

function drawOverlay(o: SVGSVGElement, f: FrameView): void {
  o.setAttribute("viewBox", `0 0 ${f.width} ${f.height}`);
  o.replaceChildren();
  const ov = f.overlay;
  if (!ov) return;
  const ok = ov.message === "capturing" || ov.message === "done";
  const colour = ok ? "#2e7d32" : "#f5b400";
  if (ov.oval) o.append(svg("ellipse", { cx: ov.oval.cx, cy: ov.oval.cy, rx: ov.oval.rx, ry: ov.oval.ry, fill: "none", stroke: colour, "stroke-width": f.width / 160 }));
  if (ov.quad) o.append(svg("polygon", { points: ov.quad.map((p) => `${p.x},${p.y}`).join(" "), fill: "none", stroke: colour, "stroke-width": f.width / 200 }));
  if (ov.face) o.append(svg("rect", { x: ov.face.x, y: ov.face.y, width: ov.face.w, height: ov.face.h, fill: "none", stroke: colour, "stroke-width": f.width / 320 }));
}

function renderProcessing(v: View): void {
  const ul = el("ul", { id: "stages", class: "stages" });
  for (const s of v.progress ?? []) ul.append(el("li", { class: s.state }, `${s.name}: ${s.state}`));
  frame(v, el("section", { class: "card wide" }, el("h2", {}, t("processing")), ul));
}

function renderResult(v: View): void {
  const r = v.result!;
  const actions = el("div", { class: "actions" });
  if (r.next_action === "RETRY") actions.append(button("retry", t("retry"), () => b.Retry()), button("finish", t("done"), () => b.Finish(), "secondary"));
  else if (r.next_action === "STATUS") actions.append(el("p", { id: "status-ref" }, `${t("status")}: ${r.submission_id}`), button("finish", t("done"), () => b.Finish()));
  else actions.append(button("finish", t("done"), () => b.Finish()));
  const op = r.operator;
  const details = el("details", { id: "operator-view" }, el("summary", {}, t("operatorView")),
    el("dl", {}, el("dt", {}, "Decision"), el("dd", { id: "decision" }, op.decision),
      el("dt", {}, "Score"), el("dd", { id: "score" }, op.score.toFixed(1)),
      el("dt", {}, "Reasons"), el("dd", { id: "reasons" }, op.reasons.join(", ") || "—"),
      el("dt", {}, "Face match"), el("dd", {}, op.face_match?.toFixed(3) ?? "—"),
      el("dt", {}, "Liveness"), el("dd", {}, op.liveness?.toFixed(3) ?? "—"),
      el("dt", {}, "Liveness path"), el("dd", { id: "liveness-path" },
        (op.liveness_path || "—") + (op.challenges?.length ? ` (${op.challenges.join(", ")})` : "")),
      el("dt", {}, "Next action"), el("dd", { id: "next-action" }, r.next_action + (r.retry_step ? ` (${r.retry_step})` : "")),
      el("dt", {}, "Submission"), el("dd", { id: "submission" }, r.submission_id),
      el("dt", {}, "Timings"), el("dd", {}, Object.entries(op.timings_ms).map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(" · ")),
      el("dt", {}, "Last capture → result"), el("dd", { id: "latency" }, `${op.capture_to_result_ms.toFixed(0)} ms`)));
  frame(v, el("section", { class: `card wide result ${op.decision}` },
    el("p", { id: "customer-message", class: "customer" }, r.message), actions, details));
  void b.ResultShown();
}

function render(v: View): void {
  view = v;
  renderedRev = v.rev;
  let done: Promise<void> | void = undefined;
  switch (v.screen) {
    case "starting": frame(v, el("p", { class: "muted center" }, t("starting"))); break;
    case "blocked": frame(v, el("section", { class: "card wide" }, el("h2", { class: "error" }, t("blocked"))), deviceCard(v)); break;
    case "sign_in": done = renderSignIn(v); break;
    case "home": done = renderHome(v); break;
    case "settings": done = renderSettings(v); break;
    case "document_select": renderDocumentSelect(v); break;
    case "capture_document": case "capture_selfie": renderCapture(v); break;
    case "processing": renderProcessing(v); break;
    case "result": renderResult(v); break;
  }
  void Promise.resolve(done).then(() => b.ScreenRendered(v.screen), showError);
}

async function refresh(): Promise<void> {
  const v = await b.State();
  if (v.rev !== renderedRev) render(v);
}

async function main(): Promise<void> {
  root.replaceChildren(el("p", { class: "muted center" }, "Starting…"));
  try {
    b = backend();
    window.runtime?.EventsOn("view", () => void refresh());
    // Events are the fast path; polling covers a window that missed one.
    setInterval(() => void refresh().catch(() => undefined), 1000);
    let last = 0;
    const touch = () => {
      if (Date.now() - last > 1000) { last = Date.now(); void b.Activity(); }
    };
    for (const ev of ["pointerdown", "keydown", "touchstart"]) document.addEventListener(ev, touch, { passive: true });
    await refresh();
  } catch (err) {
    root.replaceChildren(el("p", { class: "error center" }, `Cannot start: ${String(err)}`));
  }
}

void main();
