import "./style.css";
import {
  backend, AppBinding, FrameView, Gauge, HomeInfo, QueueItem, QueueView, SubmissionDetails, SyncView, View,
} from "./api";

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

// The words of the screens in English and Indonesian; guidance, result
// messages and the operator's check texts come translated from the Go side.
const words: Record<string, [string, string]> = {
  subtitle: ["on-device identity verification", "verifikasi identitas di perangkat"],
  signIn: ["Operator sign-in", "Masuk operator"],
  firstRun: ["No operator yet: this creates the first account (the supervisor).", "Belum ada operator: ini membuat akun pertama (supervisor)."],
  name: ["Operator", "Operator"], pass: ["Passphrase", "Kata sandi"], enter: ["Sign in", "Masuk"],
  newVerification: ["New verification", "Verifikasi baru"], queue: ["Submissions", "Pengajuan"],
  phone: ["Continue on the customer's phone", "Lanjutkan di ponsel pelanggan"],
  settings: ["Settings", "Pengaturan"], signOut: ["Sign out", "Keluar"], cancel: ["Cancel", "Batal"],
  docType: ["Document type", "Jenis dokumen"], country: ["Country", "Negara"], next: ["Continue", "Lanjut"],
  docCapture: ["Document", "Dokumen"], selfie: ["Selfie", "Swafoto"], processing: ["Verifying…", "Memverifikasi…"],
  challenge: ["Follow the instructions", "Ikuti petunjuk"],
  retry: ["Try again", "Coba lagi"], status: ["Reference", "Nomor referensi"], done: ["Done", "Selesai"],
  operatorView: ["Operator details", "Detail operator"], save: ["Save", "Simpan"], back: ["Back", "Kembali"],
  blocked: ["This device cannot run verifications", "Perangkat ini tidak dapat menjalankan verifikasi"],
  starting: ["Checking the device…", "Memeriksa perangkat…"],
  syncNow: ["Sync now", "Sinkronkan"], requeue: ["Send again", "Kirim ulang"], open: ["Open", "Buka"],
  requeueNotYours: ["Only the operator who ran it or a supervisor can send it again", "Hanya operator yang menjalankannya atau supervisor yang dapat mengirim ulang"],
  review: ["Central review", "Tinjauan pusat"], approve: ["approved", "disetujui"], reject: ["rejected", "ditolak"],
  resubmit: ["resubmission requested", "diminta kirim ulang"], claimed: ["in review", "sedang ditinjau"],
  second_review: ["awaiting a second reviewer", "menunggu peninjau kedua"], waiting: ["waiting for review", "menunggu tinjauan"],
  online: ["online", "terhubung"], offline: ["offline", "tidak terhubung"], notEnrolled: ["not enrolled", "belum terdaftar"],
  national_id: ["National ID card", "KTP"], passport: ["Passport", "Paspor"], driving_license: ["Driving licence", "SIM"],
  // steps the customer sees
  step1: ["Your document", "Dokumen Anda"], step2: ["Your face", "Wajah Anda"], step3: ["Result", "Hasil"],
  dataLine: ["Your photos and document details are encrypted on this device, sent only to the bank's own server, and deleted from this device once delivered.",
    "Foto dan data dokumen Anda dienkripsi di perangkat ini, hanya dikirim ke server bank, dan dihapus dari perangkat ini setelah terkirim."],
  retryAdvice: ["This time:", "Kali ini:"],
  // sync panel
  sync: ["Sync with central", "Sinkronisasi dengan pusat"], lastContact: ["Last contact", "Kontak terakhir"],
  waitingItems: ["Waiting to send", "Menunggu dikirim"], oldest: ["oldest", "terlama"], never: ["never", "belum pernah"],
  for: ["for", "selama"], lastError: ["Last problem", "Masalah terakhir"], nothing: ["nothing", "tidak ada"],
  overPolicy: ["This device has been offline longer than its policy allows: verifications will be blocked until it reaches central.",
    "Perangkat ini terlalu lama tidak terhubung: verifikasi akan diblokir sampai terhubung ke pusat."],
  notEnrolledText: ["Not enrolled with central: submissions stay queued in the vault. Enrol in Settings.",
    "Belum terdaftar di pusat: pengajuan tetap tersimpan di brankas. Daftarkan di Pengaturan."],
  refusedCount: ["Refused by central", "Ditolak pusat"], screeningAgainst: ["Screening against", "Penyaringan terhadap"],
  riskConfig: ["risk configuration", "konfigurasi risiko"], centrals: ["central's", "dari pusat"], builtin: ["built-in defaults", "bawaan"],
  noLists: ["none (the sanctions signal is missing)", "tidak ada (sinyal sanksi hilang)"],
  // queue
  search: ["Search", "Cari"], allStates: ["All sync states", "Semua status"], allDecisions: ["All decisions", "Semua keputusan"],
  person: ["Person", "Orang"], time: ["Time", "Waktu"], decision: ["Decision", "Keputusan"], syncState: ["Sync", "Sinkron"],
  queued: ["queued", "antre"], sending: ["sending", "mengirim"], synced: ["delivered", "terkirim"], rejected: ["refused", "ditolak"],
  "not queued": ["not queued", "tidak antre"], review_d: ["review", "tinjau"], escalate: ["escalated", "dieskalasi"],
  noItems: ["No submissions match.", "Tidak ada pengajuan yang cocok."], close: ["Close", "Tutup"],
  // result, operator view
  identity: ["Identity", "Identitas"], pictures: ["Document, portrait and selfie", "Dokumen, foto dokumen, dan swafoto"],
  docPicture: ["Document as captured", "Dokumen yang diambil"], portrait: ["Portrait on the document", "Foto di dokumen"],
  selfiePicture: ["Selfie", "Swafoto"], faceMatch: ["Face similarity", "Kemiripan wajah"], liveness: ["Liveness", "Keaktifan"],
  threshold: ["threshold", "ambang"], checks: ["Checks", "Pemeriksaan"], nextStep: ["Next step", "Langkah berikut"],
  say: ["Say", "Katakan"], retryTip: ["Do differently", "Lakukan berbeda"], imagesDropped: ["The pictures were deleted from this device after delivery.",
    "Gambar telah dihapus dari perangkat ini setelah terkirim."], notMeasured: ["not measured", "tidak diukur"],
  outcome_pass: ["pass", "lolos"], outcome_fail: ["fail", "gagal"], outcome_warn: ["to review", "ditinjau"],
  outcome_not_run: ["not run", "tidak dijalankan"],
  score: ["Score", "Skor"], reasons: ["Reason codes", "Kode alasan"], submission: ["Submission", "Pengajuan"],
  // settings
  language: ["Language", "Bahasa"], docCamera: ["Document camera", "Kamera dokumen"], selfieCamera: ["Selfie camera", "Kamera swafoto"],
  idle: ["Idle timeout (s)", "Batas diam (detik)"], kiosk: ["Kiosk mode (fullscreen, single instance; applies on restart)",
    "Mode kios (layar penuh, satu instans; berlaku setelah mulai ulang)"], testCamera: ["Show camera", "Tampilkan kamera"],
  enrolment: ["Enrolment with central", "Pendaftaran ke pusat"], centralURL: ["Central's address", "Alamat pusat"],
  token: ["Enrolment token", "Token pendaftaran"], ca: ["Central's CA (PEM or file path)", "CA pusat (PEM atau lokasi berkas)"],
  supervisor: ["Supervisor", "Supervisor"], enrol: ["Enrol this device", "Daftarkan perangkat ini"], scanQR: ["Read the token's QR code", "Baca kode QR token"],
  again: ["Enrol again (central restored or moved)", "Daftar ulang (pusat dipulihkan atau dipindah)"],
  enrolledTo: ["Enrolled as", "Terdaftar sebagai"], enrolled: ["Enrolled with central", "Terdaftar ke pusat"],
  signInToSee: ["Sign in to see or change the settings.", "Masuk untuk melihat atau mengubah pengaturan."],
  addOperator: ["Add an operator account", "Tambah akun operator"], role: ["Role", "Peran"], roleOperator: ["Operator", "Operator"],
  // hand-off
  handoffTitle: ["Continue on your phone", "Lanjutkan di ponsel Anda"],
  handoffScan: ["Scan this code with your phone's camera, or open the address and type the code.",
    "Pindai kode ini dengan kamera ponsel Anda, atau buka alamatnya dan ketik kodenya."],
  stage_waiting: ["Waiting for the phone…", "Menunggu ponsel…"], stage_phone: ["The customer is continuing on their phone.", "Pelanggan melanjutkan di ponselnya."],
  stage_processing: ["Checking…", "Memeriksa…"], stage_result: ["Finished", "Selesai"], stage_expired: ["The session expired.", "Sesi kedaluwarsa."],
  stage_canceled: ["The session was cancelled.", "Sesi dibatalkan."], newCode: ["New code", "Kode baru"],
  codeExpires: ["Code valid until", "Kode berlaku hingga"],
  welcome: ["Welcome", "Selamat datang"], touch: ["Touch the screen to begin", "Sentuh layar untuk mulai"],
  // processing, as the customer watches it
  stage_device: ["Device check", "Pemeriksaan perangkat"], stage_document: ["Reading the document", "Membaca dokumen"],
  stage_selfie: ["Checking the selfie", "Memeriksa swafoto"], stage_match: ["Comparing the faces", "Membandingkan wajah"],
  stage_screening: ["Screening", "Penyaringan"], stage_decision: ["Deciding", "Memutuskan"],
  stage_vault: ["Saving securely", "Menyimpan dengan aman"],
  state_pending: ["waiting", "menunggu"], state_running: ["in progress", "berjalan"], state_done: ["done", "selesai"],
  attempt: ["attempt", "percobaan"], captured: ["captured", "diambil"], front: ["front", "depan"], back_side: ["back", "belakang"],
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
  if (v.operator) head.append(el("span", { class: "operator" }, v.operator + (v.role === "supervisor" ? ` (${t("supervisor")})` : "")));
  const err = el("p", { id: "error", class: "error" }, v.error ?? "");
  root.replaceChildren(head, err, el("main", { id: `screen-${v.screen}`, class: `screen ${v.screen}` }, ...content));
  document.body.dataset.screen = v.screen;
  document.body.classList.toggle("kiosk", v.kiosk);
  document.documentElement.lang = v.lang;
}

// when says how long ago iso was, from now (the app's clock).
function ago(iso: string | undefined, now: string): string {
  if (!iso) return t("never");
  const s = Math.max(0, (Date.parse(now) - Date.parse(iso)) / 1000);
  return duration(s);
}

function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
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

// Filters of the queue and the submission opened, kept across redraws.
const filter = { state: "", decision: "", text: "", opened: "" };

async function renderHome(v: View): Promise<void> {
  const start = button("start", t("newVerification"), () => b.StartSession(), "primary big");
  start.toggleAttribute("disabled", !!v.vault_error);
  const phone = button("start-handoff", t("phone"), () => b.StartHandoff(), "secondary big");
  phone.hidden = true;
  const panel = el("section", { class: "card", id: "sync-panel" }, el("h2", {}, t("sync")));
  const queue = el("section", { class: "card wide", id: "queue" }, el("h2", {}, t("queue")));
  frame(v, el("section", { class: "card", id: "actions" }, start, phone,
    button("open-settings", t("settings"), () => b.OpenSettings(), "secondary"),
    button("sign-out", t("signOut"), () => b.SignOut(), "secondary"),
    v.vault_error ? el("p", { class: "error" }, v.vault_error) : ""), panel, queue, deviceCard(v));
  const q: QueueView = await b.Queue();
  if (view?.rev !== v.rev) return; // a newer view is being drawn
  phone.hidden = !(q.sync.enrolled && q.sync.online);
  // A configuration refused: nothing can be verified until sync reinstalls it.
  start.toggleAttribute("disabled", !!v.vault_error || !!q.config.refused);
  panel.append(...syncPanel(q));
  queue.append(...queueTable(q));
}

// syncPanel says where the device stands with central: online or offline
// and for how long, the last contact, what waits and since when, the last
// problem in words, and whether the device is past its offline allowance.
function syncPanel(q: QueueView): Node[] {
  const s: SyncView = q.sync;
  const out: Node[] = [];
  if (!s.enrolled) {
    out.push(el("p", { id: "sync-state-line" }, el("span", { class: "badge bad", id: "sync-state" }, t("notEnrolled"))),
      el("p", { id: "sync", class: "muted" }, t("notEnrolledText")));
  } else {
    const state = el("span", { class: `badge ${s.online ? "ok" : "bad"}`, id: "sync-state", "data-online": String(s.online) },
      s.online ? t("online") : t("offline"));
    const since = !s.online && s.offline_since ? ` ${t("for")} ${ago(s.offline_since, s.now)}` : "";
    out.push(el("p", { id: "sync-state-line", class: "big-line" }, state, el("span", { id: "offline-for" }, since)),
      el("dl", { id: "sync" },
        el("dt", {}, "Central"), el("dd", {}, s.central_url ?? ""),
        el("dt", {}, t("lastContact")), el("dd", { id: "last-contact" }, s.last_contact ? `${ago(s.last_contact, s.now)} (${new Date(s.last_contact).toLocaleString()})` : t("never")),
        el("dt", {}, t("waitingItems")), el("dd", { id: "waiting" }, s.queue_depth > 0
          ? `${s.queue_depth}, ${t("oldest")} ${ago(s.oldest_queued, s.now)}` : t("nothing")),
        el("dt", {}, t("refusedCount")), el("dd", { id: "refused-count" }, String(s.rejected))),
      button("sync-now", t("syncNow"), () => b.SyncNow(), "secondary"));
  }
  if (s.over_policy) out.push(el("p", { class: "warning", id: "offline-warning" }, t("overPolicy")));
  if (s.last_error) out.push(el("p", { class: "error", id: "sync-error" }, `${t("lastError")}: ${s.last_error}`));
  if (q.error) out.push(el("p", { class: "error" }, q.error));
  if (q.config.refused) {
    out.push(el("p", { class: "error", id: "config-refused" }, q.config.refused));
    return out;
  }
  // Each list with its age: since central last confirmed it, or since its
  // date for one imported on the device; stale ones are in the problems.
  const ages = new Map((q.config.screening_age?.lists ?? []).map((l) => [l.name, l]));
  const aged = (n: string) => {
    const a = ages.get(n.split("@")[0]);
    return a?.known ? `${n} (${duration(a.age_ns / 1e9)})` : n;
  };
  const lists = q.config.watchlists.length ? q.config.watchlists.map(aged).join(", ") : t("noLists");
  out.push(el("p", { id: "config-in-use", class: "muted" },
    `${t("screeningAgainst")} ${lists}; ${t("riskConfig")}: ${q.config.risk ? t("centrals") : t("builtin")}`));
  for (const p of q.config.problems ?? []) out.push(el("p", { class: "error config-problem" }, p));
  return out;
}

// queueTable lists the device's submissions with masked names, filtered
// and searched in the page; opening one shows its details from the vault.
function queueTable(q: QueueView): Node[] {
  const states = el("select", { id: "queue-filter-state" }, el("option", { value: "" }, t("allStates")));
  for (const s of ["queued", "sending", "synced", "rejected"]) states.append(el("option", { value: s }, t(s)));
  const decisions = el("select", { id: "queue-filter-decision" }, el("option", { value: "" }, t("allDecisions")));
  for (const d of ["approve", "review", "escalate", "reject"]) decisions.append(el("option", { value: d }, d === "review" ? t("review_d") : t(d)));
  const search = el("input", { id: "queue-search", type: "search", placeholder: t("search") });
  states.value = filter.state;
  decisions.value = filter.decision;
  search.value = filter.text;
  const table = el("table", { id: "queue-table" });
  const details = el("div", { id: "queue-details" });
  const draw = () => {
    table.replaceChildren(el("tr", {}, el("th", {}, t("person")), el("th", {}, t("docType")), el("th", {}, t("decision")),
      el("th", {}, t("time")), el("th", {}, t("syncState")), el("th", {}, t("review")), el("th", {}, "")));
    const text = filter.text.toLowerCase();
    const rows = q.items.filter((it) => (!filter.state || it.state === filter.state) && (!filter.decision || it.decision === filter.decision) &&
      (!text || [it.id, it.name, it.doc_type, t(it.doc_type), it.operator].some((s) => s.toLowerCase().includes(text))));
    for (const it of rows) table.append(queueRow(it, details));
    if (rows.length === 0) table.append(el("tr", {}, el("td", { colspan: "7", class: "muted" }, t("noItems"))));
  };
  if (filter.opened && q.items.some((it) => it.id === filter.opened && it.mine)) openDetails(filter.opened, details);
  states.addEventListener("change", () => { filter.state = states.value; draw(); });
  decisions.addEventListener("change", () => { filter.decision = decisions.value; draw(); });
  search.addEventListener("input", () => { filter.text = search.value; draw(); });
  draw();
  return [el("div", { class: "filters" }, states, decisions, search), table, details];
}

function queueRow(it: QueueItem, details: HTMLElement): HTMLElement {
  const actions = el("td", { class: "actions" });
  if (it.mine) {
    const open = el("button", { class: "secondary small open", id: `open-${it.id}` }, t("open"));
    open.addEventListener("click", () => openDetails(it.id, details, true));
    actions.append(open);
  }
  if (it.state === "rejected" && it.mine) {
    actions.append(button(`requeue-${it.id}`, t("requeue"), () => b.Requeue(it.id), "secondary small requeue"));
  } else if (it.state === "rejected") {
    // Another operator's: only they or a supervisor may send it again
    // (Requeue refuses it), so the button is shown disabled with why.
    actions.append(el("button", { id: `requeue-${it.id}`, class: "secondary small requeue", disabled: "", title: t("requeueNotYours") }, t("requeue")),
      el("div", { class: "muted not-yours" }, t("requeueNotYours")));
  }
  const stateText = t(it.state) + (it.attempts > 1 ? ` (${it.attempts})` : "");
  return el("tr", { "data-state": it.state, "data-id": it.id },
    el("td", { class: "name" }, it.name || "—"), el("td", {}, t(it.doc_type)),
    el("td", {}, it.decision ? el("span", { class: `badge decision-${it.decision}` }, it.decision === "review" ? t("review_d") : t(it.decision)) : ""),
    el("td", {}, new Date(it.created_at).toLocaleString()),
    el("td", {}, el("span", { class: `badge sync-${it.state.replace(" ", "-")}` }, stateText),
      it.state === "rejected" && it.reason ? el("div", { class: "muted reason" }, it.reason) : ""),
    el("td", { class: "review", "data-review": it.review?.outcome ?? it.review?.state ?? "" }, reviewText(it)),
    actions);
}

// openDetails shows submission id's details from the vault under the queue.
function openDetails(id: string, into: HTMLElement, scroll = false): void {
  filter.opened = id;
  b.Details(id).then((d) => {
    into.replaceChildren(el("section", { class: "card details-card", id: "opened-details", "data-id": id },
      el("h2", {}, `${t("submission")} ${id}`), ...operatorDetails(d),
      closeButton(() => { filter.opened = ""; into.replaceChildren(); })));
    if (scroll) into.scrollIntoView();
  }, showError);
}

function closeButton(onClick: () => void): HTMLButtonElement {
  const c = el("button", { class: "secondary", id: "close-details" }, t("close"));
  c.addEventListener("click", onClick);
  return c;
}

// reviewText says where central's reviewers stand on a submission: the
// decision (with its reason) once made, else the case's state.
function reviewText(it: QueueItem): string {
  const r = it.review;
  if (!r) return "";
  if (r.state === "decided" && r.outcome) return t(r.outcome) + (r.reason ? ` (${r.reason})` : "");
  return r.state === "open" ? t("waiting") : t(r.state);
}

async function renderSettings(v: View): Promise<void> {
  const [sv, enr] = await Promise.all([b.Settings(), b.Enrolment()]);
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
  // The cameras and the kiosk mode are a supervisor's (SaveSettings
  // refuses them to a plain operator).
  const supervises = v.role === "supervisor" || v.first_run;
  docCam.readOnly = selfieCam.readOnly = !supervises;
  kiosk.disabled = !supervises;
  const img = el("img", { id: "preview", alt: "" });
  const stage = el("div", { class: "stage small-stage", id: "camera-preview" }, img);
  stage.hidden = true;
  const msg = el("span", { class: "muted" });
  const camPreview = (input: HTMLInputElement) => async () => {
    await b.PreviewCamera(input.value);
    stage.hidden = false;
    void pullFrames(v.rev, { img, msg, fps: msg });
  };
  // Nobody signed in (from sign-in): the settings are not shown, only the
  // enrolment and the new account, each behind a supervisor's passphrase.
  const settings = sv.sign_in_to_see
    ? el("section", { class: "card", id: "settings" }, el("h2", {}, t("settings")),
      el("p", { class: "muted", id: "sign-in-to-see" }, t("signInToSee")),
      button("close-settings", t("back"), () => b.CloseSettings(), "secondary"))
    : el("section", { class: "card", id: "settings" }, el("h2", {}, t("settings")), list,
      el("label", {}, t("docCamera"), docCam), button("preview-document-camera", t("testCamera"), camPreview(docCam), "secondary small"),
      el("label", {}, t("selfieCamera"), selfieCam), button("preview-selfie-camera", t("testCamera"), camPreview(selfieCam), "secondary small"),
      stage,
      el("label", {}, t("language"), lang), el("label", {}, t("idle"), idle),
      el("label", { class: "inline" }, kiosk, " " + t("kiosk")),
      button("save-settings", t("save"), () => b.SaveSettings({ document_camera: docCam.value, selfie_camera: selfieCam.value,
        lang: lang.value as "en" | "id", kiosk: kiosk.checked, idle_seconds: Number(idle.value) })),
      button("close-settings", t("back"), () => b.CloseSettings(), "secondary"));

  const central = el("input", { id: "enrol-central", placeholder: "https://central.example:8443", value: enr.central_url ?? "" });
  const token = el("input", { id: "enrol-token", autocomplete: "off" });
  const ca = el("textarea", { id: "enrol-ca", rows: "3" });
  const sup = el("input", { id: "enrol-supervisor", autocomplete: "off", value: v.role === "supervisor" ? v.operator ?? "" : "" });
  const supPass = el("input", { id: "enrol-passphrase", type: "password" });
  const again = el("input", { id: "enrol-again", type: "checkbox" });
  const status = el("p", { id: "enrolment-status", "data-enrolled": String(enr.enrolled) },
    !enr.enrolled ? t("notEnrolled") : enr.device_id ? `${t("enrolledTo")} ${enr.device_id} → ${enr.central_url}` : t("enrolled"));
  // The camera is the settings', a signed-in operator's (ScanQR refuses it from sign-in).
  const scan = button("scan-qr", t("scanQR"), async () => {
    const text = await b.ScanQR(docCam.value);
    token.value = text;
  }, "secondary small");
  scan.hidden = !!sv.sign_in_to_see;
  const enrolment = el("section", { class: "card", id: "enrolment" }, el("h2", {}, t("enrolment")), status,
    el("label", {}, t("centralURL"), central), el("label", {}, t("token"), token),
    scan,
    el("label", {}, t("ca"), ca), el("label", {}, t("supervisor"), sup), el("label", {}, t("pass"), supPass),
    el("label", { class: "inline" }, again, " " + t("again")),
    button("enrol-button", t("enrol"), () => b.Enrol({ central_url: central.value, token: token.value, ca: ca.value,
      supervisor: sup.value, passphrase: supPass.value, again: again.checked })));
  // Another operator account, as a supervisor allows.
  const newName = el("input", { id: "new-operator", autocomplete: "off" });
  const newPass = el("input", { id: "new-operator-passphrase", type: "password" });
  const newRole = el("select", { id: "new-operator-role" }, el("option", { value: "operator" }, t("roleOperator")),
    el("option", { value: "supervisor" }, t("supervisor")));
  const accountSup = el("input", { id: "account-supervisor", autocomplete: "off", value: v.role === "supervisor" ? v.operator ?? "" : "" });
  const accountSupPass = el("input", { id: "account-supervisor-passphrase", type: "password" });
  const accounts = el("section", { class: "card", id: "accounts" }, el("h2", {}, t("addOperator")),
    el("label", {}, t("name"), newName), el("label", {}, t("pass"), newPass), el("label", {}, t("role"), newRole),
    el("label", {}, t("supervisor"), accountSup), el("label", {}, t("pass"), accountSupPass),
    button("add-operator", t("addOperator"), () => b.AddOperator({ supervisor: accountSup.value, passphrase: accountSupPass.value,
      name: newName.value, new_passphrase: newPass.value, role: newRole.value as "operator" | "supervisor" })));
  frame(v, settings, enrolment, accounts);
}

function renderDocumentSelect(v: View): void {
  const doc = el("select", { id: "doc-type" });
  for (const d of v.config.accepted_documents) doc.append(el("option", { value: d }, t(d)));
  const country = el("select", { id: "country" });
  for (const c of v.config.accepted_countries) country.append(el("option", { value: c }, c));
  frame(v, steps(1), el("section", { class: "card wide" }, el("h2", {}, t("docType")),
    el("label", {}, t("docType"), doc), el("label", {}, t("country"), country),
    button("choose-document", t("next"), () => b.ChooseDocument(doc.value, country.value), "primary big"),
    button("cancel", t("cancel"), () => b.Finish(), "secondary"), dataLine()));
}

// steps are the customer's numbered steps, the current one marked.
function steps(current: number): HTMLElement {
  const ol = el("ol", { class: "card wide steps", id: "customer-steps" });
  ["step1", "step2", "step3"].forEach((k, i) => ol.append(el("li", { class: i + 1 === current ? "current" : i + 1 < current ? "done" : "" },
    el("span", { class: "num" }, String(i + 1)), " ", t(k))));
  return ol;
}

function dataLine(): HTMLElement {
  return el("p", { class: "data-line", id: "data-line" }, t("dataLine"));
}

function renderCapture(v: View): void {
  const s = v.session!;
  const ch = v.screen === "capture_selfie" ? s.challenge : undefined;
  const title = v.screen === "capture_document" ? `${t("docCapture")}: ${t(s.doc_type)} (${s.country})` : ch ? t("challenge") : t("selfie");
  const sides = s.captured.map((c) => (c === "back" ? t("back_side") : t(c)));
  const stepLine = el("p", { id: "steps", class: "muted" }, `${t("attempt")} ${s.attempt} · ${t("captured")}: ${sides.join(", ") || "—"}`);
  const img = el("img", { id: "preview", alt: "" });
  const overlay = svg("svg", { id: "overlay", preserveAspectRatio: "none" });
  const msg = el("p", { id: "guidance", class: "guidance" }, "…");
  // Advice that does not hold the capture back (bright or dim light).
  const hint = el("p", { id: "guidance-hint", class: "guidance-hint", "aria-live": "polite" });
  const fps = el("span", { id: "fps", class: "muted" });
  const stage = el("div", { class: "stage" }, img, overlay);
  const cancel = button("cancel", t("cancel"), () => b.Finish(), "secondary");
  const bar = steps(v.screen === "capture_document" ? 1 : 2);
  if (!ch) {
    frame(v, bar, el("section", { class: "card wide capture" }, el("h2", {}, title, " ", fps), stepLine,
      el("div", { class: "challenge-layout" }, stage, el("div", { class: "side" }, msg, hint, cancel)), dataLine()));
    void pullFrames(v.rev, { img, overlay: overlay as SVGSVGElement, msg, hint, fps });
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
  side.append(prompts, msg, hint, cancel);
  if (ch.requested_by) {
    side.append(el("details", { id: "operator-view" }, el("summary", {}, t("operatorView")),
      el("dl", {}, el("dt", {}, "Liveness path"), el("dd", { id: "liveness-path" }, ch.liveness_path ?? ""),
        el("dt", {}, "Asked by"), el("dd", { id: "requested-by" }, ch.requested_by),
        el("dt", {}, "Time allowed"), el("dd", {}, `${ch.seconds} s from the first prompt`))));
  }
  frame(v, bar, el("section", { class: "card wide capture challenge" }, el("h2", {}, title, " ", fps), stepLine,
    el("div", { class: "challenge-layout" }, stage, side)));
  void pullFrames(v.rev, { img, overlay: overlay as SVGSVGElement, msg, hint, fps, prompts });
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
interface PreviewParts {
  img: HTMLImageElement; overlay?: SVGSVGElement; msg: HTMLElement; hint?: HTMLElement; fps: HTMLElement; prompts?: HTMLOListElement;
}

async function pullFrames(rev: number, { img, overlay, msg, hint, fps, prompts }: PreviewParts): Promise<void> {
  let seq = 0;
  // previewSeq counts this view's frames only (the e2e tests wait on it).
  delete document.body.dataset.previewSeq;
  while (view?.rev === rev) {
    const f: FrameView = await b.Frame(seq);
    if (view?.rev !== rev) break;
    if (f.seq === seq || !f.jpeg) continue;
    seq = f.seq;
    img.src = f.jpeg;
    if (img.parentElement) img.parentElement.style.aspectRatio = `${f.width} / ${f.height}`;
    if (overlay) drawOverlay(overlay, f);
    msg.textContent = f.message;
    msg.dataset.key = f.overlay?.message ?? "";
    if (hint) {
      hint.textContent = f.hint ?? "";
      hint.dataset.key = f.overlay?.hint ?? "";
    }
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
  for (const s of v.progress ?? []) ul.append(el("li", { class: s.state, "data-stage": s.name }, `${t(`stage_${s.name}`)}: ${t(`state_${s.state}`)}`));
  frame(v, steps(3), el("section", { class: "card wide" }, el("h2", {}, t("processing")), ul));
}

// gauge draws a score on a 0..1 bar with its threshold marked: green when
// it passes, red when not, grey when not measured.
function gauge(id: string, label: string, g: Gauge): HTMLElement {
  const has = g.value !== undefined && g.value !== null;
  const value = has ? Math.max(0, Math.min(1, g.value!)) : 0;
  const bar = el("div", { class: "gauge-bar" },
    el("div", { class: `gauge-fill ${has ? (g.pass ? "pass" : "fail") : "none"}`, style: `width: ${(value * 100).toFixed(1)}%` }),
    el("div", { class: "gauge-threshold", style: `left: ${(g.threshold * 100).toFixed(1)}%`, title: `${t("threshold")} ${g.threshold}` }));
  return el("div", { class: "gauge", id, "data-pass": has ? String(g.pass) : "none" },
    el("div", { class: "gauge-label" }, el("span", {}, label),
      el("strong", {}, has ? `${value.toFixed(2)} ${g.pass ? "✓" : "✗"}` : t("notMeasured")),
      el("span", { class: "muted" }, ` (${t("threshold")} ${g.threshold.toFixed(2)})`)), bar);
}

// operatorDetails is the operator's view of one verification: identity
// with sources, the three pictures, the face gauges, the checks in words,
// and the next step.
function operatorDetails(d: SubmissionDetails): Node[] {
  const idTable = el("table", { id: "identity" });
  for (const f of d.identity) {
    idTable.append(el("tr", { "data-key": f.key }, el("th", {}, f.label), el("td", { class: "value" }, f.value), el("td", { class: "muted" }, f.source)));
  }
  const pic = (id: string, label: string, src?: string) => el("figure", {},
    src ? el("img", { id, src, alt: label }) : el("div", { class: "no-image", id }, "—"), el("figcaption", {}, label));
  const pictures = el("div", { class: "pictures", id: "pictures" },
    pic("img-document", t("docPicture"), d.images.document), pic("img-portrait", t("portrait"), d.images.portrait),
    pic("img-selfie", t("selfiePicture"), d.images.selfie));
  const checks = el("ul", { class: "checks", id: "checks" });
  for (const c of d.checks) {
    checks.append(el("li", { "data-key": c.key, "data-outcome": c.outcome, class: c.outcome },
      el("span", { class: `badge outcome-${c.outcome}` }, t(`outcome_${c.outcome}`)), " ", el("strong", {}, c.name), ": ", c.text));
  }
  const next = el("div", { class: "next-step", id: "next-step" }, el("h3", {}, t("nextStep")), el("p", { id: "op-do" }, d.do),
    el("p", { id: "op-say" }, el("strong", {}, `${t("say")}: `), d.say));
  if (d.retry) next.append(el("p", { id: "op-retry" }, el("strong", {}, `${t("retryTip")}: `), d.retry));
  return [
    el("div", { class: "details-grid" },
      el("div", {}, el("h3", {}, t("identity")), idTable, gauge("gauge-match", t("faceMatch"), d.match), gauge("gauge-liveness", t("liveness"), d.liveness)),
      el("div", {}, el("h3", {}, t("pictures")), pictures, d.images.dropped ? el("p", { class: "muted" }, t("imagesDropped")) : "")),
    el("h3", {}, t("checks")), checks, next,
  ];
}

function renderResult(v: View): void {
  const r = v.result!;
  const actions = el("div", { class: "actions" });
  if (r.next_action === "RETRY") actions.append(button("retry", t("retry"), () => b.Retry(), "primary big"), button("finish", t("done"), () => b.Finish(), "secondary"));
  else if (r.next_action === "STATUS") actions.append(el("p", { id: "status-ref", class: "customer" }, `${t("status")}: ${r.submission_id}`), button("finish", t("done"), () => b.Finish(), "primary big"));
  else actions.append(button("finish", t("done"), () => b.Finish(), "primary big"));
  const op = r.operator;
  const opBody = el("div", { id: "operator-details" });
  const details = el("details", { id: "operator-view" }, el("summary", {}, t("operatorView")), opBody,
    el("dl", { class: "technical" }, el("dt", {}, t("decision")), el("dd", { id: "decision" }, op.decision),
      el("dt", {}, t("score")), el("dd", { id: "score" }, op.score.toFixed(1)),
      el("dt", {}, t("reasons")), el("dd", { id: "reasons" }, op.reasons.join(", ") || "—"),
      el("dt", {}, "Liveness path"), el("dd", { id: "liveness-path" },
        (op.liveness_path || "—") + (op.challenges?.length ? ` (${op.challenges.join(", ")})` : "")),
      el("dt", {}, "Next action"), el("dd", { id: "next-action" }, r.next_action + (r.retry_step ? ` (${r.retry_step})` : "")),
      el("dt", {}, t("submission")), el("dd", { id: "submission" }, r.submission_id),
      el("dt", {}, "Timings"), el("dd", {}, Object.entries(op.timings_ms).map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(" · ")),
      el("dt", {}, "Last capture → result"), el("dd", { id: "latency" }, `${op.capture_to_result_ms.toFixed(0)} ms`)));
  // The operator's details are personal: fetched only when the operator
  // opens them, never drawn in the customer's view.
  details.addEventListener("toggle", () => {
    if (!details.open || opBody.childElementCount > 0) return;
    b.Details(r.submission_id).then((d) => {
      if (view?.rev === v.rev) opBody.replaceChildren(...operatorDetails(d));
    }, showError);
  });
  const customer = el("div", { class: "customer-view" }, el("p", { id: "customer-message", class: "customer" }, r.message));
  if (r.retry_advice) customer.append(el("p", { id: "retry-advice", class: "advice" }, `${t("retryAdvice")} ${r.retry_advice}`));
  frame(v, steps(3), el("section", { class: `card wide result ${op.decision}` }, customer, actions, dataLine(), details));
  void b.ResultShown();
}

function renderHandoff(v: View): void {
  const h = v.handoff;
  if (!h) {
    frame(v, el("p", { class: "muted center" }, "…"));
    return;
  }
  const stage = el("p", { id: "handoff-stage", class: "customer", "data-stage": h.stage }, t(`stage_${h.stage}`));
  const side = el("div", { class: "side" }, stage);
  if (h.final) {
    side.append(el("p", { id: "handoff-message", class: "customer" }, h.message ?? ""),
      el("details", { id: "operator-view" }, el("summary", {}, t("operatorView")),
        el("dl", {}, el("dt", {}, t("decision")), el("dd", { id: "handoff-decision" }, h.decision ?? "—"),
          el("dt", {}, "Status"), el("dd", {}, `${h.status ?? ""} ${h.error_code ?? ""}`),
          el("dt", {}, t("submission")), el("dd", {}, h.submission_id ?? "—"))),
      button("handoff-done", t("done"), () => b.EndHandoff(), "primary big"));
  } else {
    side.append(button("handoff-cancel", t("cancel"), () => b.EndHandoff(), "secondary"));
    if (h.stage === "waiting") side.append(button("handoff-new-code", t("newCode"), () => b.StartHandoff(), "secondary"));
  }
  if (h.error) side.append(el("p", { class: "error", id: "handoff-error" }, h.error));
  const qr = h.final ? el("div", {}) : el("figure", { class: "qr" }, el("img", { id: "handoff-qr", src: h.qr, alt: "QR", "data-url": h.url }),
    el("figcaption", {}, el("p", {}, t("handoffScan")), el("p", {}, el("code", {}, h.code_url)),
      el("p", { id: "handoff-code", class: "short-code" }, h.short_code),
      el("p", { class: "muted" }, `${t("codeExpires")} ${new Date(h.link_expires_at).toLocaleTimeString()}`)));
  frame(v, el("section", { class: "card wide handoff" }, el("h2", {}, t("handoffTitle")),
    el("div", { class: "challenge-layout" }, qr, side), dataLine()));
}

function renderIdle(v: View): void {
  const card = el("section", { class: "card wide idle", id: "idle-screen" }, el("h2", {}, t("welcome")), el("p", { class: "customer" }, t("touch")));
  card.addEventListener("click", () => void b.Wake().then(refresh, showError));
  frame(v, card);
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
    case "handoff": renderHandoff(v); break;
    case "idle": renderIdle(v); break;
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
