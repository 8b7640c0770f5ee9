import "./style.css";
import { backend, HomeInfo } from "./api";

const root = document.querySelector<HTMLDivElement>("#app")!;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function badge(ok: boolean, okText: string, badText: string): HTMLElement {
  return el("span", { class: ok ? "badge ok" : "badge bad" }, ok ? okText : badText);
}

function renderHome(h: HomeInfo): void {
  const runtime = el("section", { class: "card", id: "runtime" },
    el("h2", {}, "Engine"),
    el("dl", {},
      el("dt", {}, "Version"), el("dd", {}, h.version),
      el("dt", {}, "ONNX Runtime"), el("dd", {}, h.onnxruntime || "not loaded"),
      el("dt", {}, "OpenCV"), el("dd", {}, h.opencv),
      el("dt", {}, "GoCV"), el("dd", {}, h.gocv)),
  );
  if (h.runtime_error) runtime.append(el("p", { class: "error" }, h.runtime_error));

  const cams = el("section", { class: "card", id: "cameras" }, el("h2", {}, "Cameras"));
  if (h.cameras.length === 0) {
    cams.append(el("p", { class: "muted" }, "No camera found: the demo video will stand in for one."));
  } else {
    const ul = el("ul", {});
    for (const c of h.cameras) {
      ul.append(el("li", {}, `${c.name} `, el("span", { class: "muted" }, c.path)));
    }
    cams.append(ul);
  }
  if (h.camera_error) cams.append(el("p", { class: "error" }, h.camera_error));

  const verdictText: Record<string, string> = { ok: "trusted", warn: "warnings", block: "blocked" };
  const dev = el("section", { class: "card wide", id: "device" },
    el("h2", {}, `Device check (${h.device.profile}) `,
      el("span", { class: `badge ${h.device.verdict}` }, verdictText[h.device.verdict] ?? h.device.verdict)));
  if (h.device.error) dev.append(el("p", { class: "error" }, h.device.error));
  if (h.device.findings.length > 0) {
    const ul = el("ul", { class: "findings" });
    for (const f of h.device.findings) {
      const detail = Object.entries(f.evidence).slice(0, 2).map(([k, v]) => `${k}: ${v}`).join("; ");
      ul.append(el("li", {}, el("span", { class: `badge ${f.status === "fail" ? "block" : "warn"}` }, f.status), ` ${f.name.replace(/_/g, " ")} `,
        el("span", { class: "muted" }, detail)));
    }
    dev.append(ul);
  }

  const table = el("table", {}, el("tr", {}, el("th", {}, "Model"), el("th", {}, "Version"), el("th", {}, "Purpose"), el("th", {}, "Status")));
  for (const m of h.models) {
    const row = el("tr", {}, el("td", {}, m.name), el("td", {}, m.version), el("td", { class: "muted" }, m.purpose),
      el("td", {}, badge(m.verified, "verified", m.problem ? "missing or corrupt" : "not installed")));
    if (m.problem) row.title = m.problem;
    table.append(row);
  }
  const models = el("section", { class: "card wide", id: "models" },
    el("h2", {}, "Models ", badge(h.models_ok, "all verified", "action needed")), table);

  const start = el("button", { class: "primary", id: "start" }, "New verification");
  start.toggleAttribute("disabled", !h.models_ok || !!h.runtime_error || h.device.verdict === "block");

  root.replaceChildren(
    el("header", {}, el("h1", {}, "OpenKYC"), el("span", { class: "muted" }, "on-device identity verification")),
    el("main", {}, runtime, cams, dev, models),
    el("footer", {}, start),
  );
}

async function main(): Promise<void> {
  root.replaceChildren(el("p", { class: "muted center" }, "Checking the engine…"));
  try {
    const b = backend();
    renderHome(await b.Home());
    await b.HomeRendered();
  } catch (err) {
    root.replaceChildren(el("p", { class: "error center" }, `Cannot start: ${String(err)}`));
  }
}

void main();
