// Typed access to the Go methods Wails binds on window.go.app.App. The Go
// side owns the flow: the page renders the View it is given.

export interface Camera { index: number; path: string; name: string; virtual_hint: boolean }
export interface ModelStatus { name: string; version: string; kind: string; license: string; purpose: string; verified: boolean; problem?: string }
export interface DeviceFinding { name: string; status: "pass" | "warn" | "fail"; severity: string; evidence: Record<string, string> }
export interface DeviceStatus { profile: string; verdict: "ok" | "warn" | "block"; findings: DeviceFinding[]; error?: string }

export interface HomeInfo {
  version: string; onnxruntime: string; opencv: string; gocv: string; runtime_error?: string;
  cameras: Camera[]; camera_error?: string; models: ModelStatus[]; models_ok: boolean; device: DeviceStatus;
}

export type Screen = "starting" | "blocked" | "sign_in" | "home" | "settings" | "document_select" |
  "capture_document" | "capture_selfie" | "processing" | "result";

export interface SessionConfig {
  accepted_documents: string[]; accepted_countries: string[]; liveness_type: string; challenges?: string[];
  challenge_on_doubt: boolean; challenge_seconds: number; sides?: Record<string, number>; session_ttl: number;
}
export interface ChallengePrompt { key: string; text: string }
// An active liveness challenge under way: the customer's instruction (when
// the risk engine asked for it) and prompts; the operator's reference.
export interface ChallengeView {
  message?: string; prompts: ChallengePrompt[]; seconds: number; requested_by?: string; liveness_path?: string;
}
export interface SessionView {
  id: string; doc_type: string; country: string; attempt: number; sides: number; captured: string[]; challenges?: string[];
  challenge?: ChallengeView;
}
export interface Stage { name: string; state: "pending" | "running" | "done"; ms?: number }
export interface OperatorResult {
  decision: string; score: number; reasons: string[]; face_match?: number; liveness?: number; detected_doc_type?: string;
  liveness_path?: string; challenges?: string[]; timings_ms: Record<string, number>; capture_to_result_ms: number;
}
export interface ResultView {
  submission_id: string; next_action: "RETRY" | "STATUS" | "EXIT" | "CHALLENGE"; retry_step?: string; message: string; operator: OperatorResult;
}

export interface View {
  rev: number; screen: Screen; lang: "en" | "id"; kiosk: boolean; operator?: string; first_run: boolean; error?: string;
  device?: DeviceStatus; vault_error?: string; config: SessionConfig; session?: SessionView; progress?: Stage[];
  result?: ResultView; idle_seconds: number;
}

export interface Point { x: number; y: number }
export interface Overlay {
  seq: number; message: string; step: string; quad?: Point[]; face?: { x: number; y: number; w: number; h: number };
  oval?: { cx: number; cy: number; rx: number; ry: number }; captured?: string;
}
export interface FrameView { seq: number; jpeg: string; width: number; height: number; overlay?: Overlay; message: string; fps: number; live: boolean }

export interface Review { state: string; outcome?: string; reason?: string; decided_at?: string }
export interface QueueItem { id: string; created_at: string; state: string; attempts: number; reason?: string; review?: Review }
export interface SyncStatus {
  enrolled: boolean; central_url?: string; online: boolean; last_contact?: string; last_pass?: string;
  queue_depth: number; rejected: number; oldest_queued?: string; last_error?: string;
}
export interface ConfigInUse { watchlists: string[]; risk?: string; problems?: string[] }
export interface QueueView { items: QueueItem[]; sync: SyncStatus; config: ConfigInUse; error?: string }

export interface Settings { document_camera: string; selfie_camera: string; lang: "en" | "id"; kiosk: boolean; idle_seconds: number }
export interface SettingsView { settings: Settings; cameras: { source: string; label: string }[] }

export interface AppBinding {
  Home(): Promise<HomeInfo>;
  State(): Promise<View>;
  ScreenRendered(screen: string): Promise<void>;
  Activity(): Promise<void>;
  SignIn(name: string, pass: string): Promise<View>;
  SignOut(): Promise<View>;
  Queue(): Promise<QueueView>;
  SyncNow(): Promise<void>;
  Requeue(id: string): Promise<QueueView>;
  Settings(): Promise<SettingsView>;
  OpenSettings(): Promise<View>;
  CloseSettings(): Promise<View>;
  SaveSettings(s: Settings): Promise<View>;
  StartSession(): Promise<View>;
  ChooseDocument(doc: string, country: string): Promise<View>;
  Frame(after: number): Promise<FrameView>;
  ResultShown(): Promise<number>;
  Retry(): Promise<View>;
  Finish(): Promise<View>;
}

declare global {
  interface Window {
    go?: { app?: { App?: AppBinding } };
    runtime?: { EventsOn(name: string, cb: (...data: unknown[]) => void): () => void };
  }
}

export function backend(): AppBinding {
  const b = window.go?.app?.App;
  if (!b) {
    throw new Error("the Go backend is not bound (run inside the desktop app)");
  }
  return b;
}
