// Typed access to the Go methods Wails binds on window.go.app.App. The Go
// side owns the flow: the page renders the View it is given.

export interface Camera { index: number; path: string; name: string; virtual_hint: boolean }
export interface ModelStatus { name: string; version: string; kind: string; license: string; purpose: string; verified: boolean; problem?: string }
export interface DeviceFinding { name: string; status: "pass" | "warn" | "fail"; severity: string; evidence: Record<string, string> }
export interface DeviceStatus { profile: string; verdict: "ok" | "warn" | "block"; findings: DeviceFinding[]; error?: string }

export interface HomeInfo {
  version: string; commit?: string; go: string; onnxruntime: string; onnxruntime_library: string; opencv: string; gocv: string;
  runtime_error?: string;
  cameras: Camera[]; camera_error?: string; models: ModelStatus[]; models_ok: boolean; device: DeviceStatus;
}

export type Screen = "starting" | "blocked" | "sign_in" | "home" | "settings" | "document_select" |
  "capture_document" | "capture_selfie" | "processing" | "result" | "handoff" | "idle";

export interface SessionConfig {
  accepted_documents: string[]; accepted_countries: string[]; liveness_type: string; challenges?: string[];
  challenge_on_doubt: boolean; challenge_seconds: number; prompt_seconds: number; sides?: Record<string, number>; session_ttl: number;
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
  submission_id: string; next_action: "RETRY" | "STATUS" | "EXIT" | "CHALLENGE"; retry_step?: string; message: string;
  retry_advice?: string; operator: OperatorResult;
}
// The Smart QR hand-off: the customer continues on their phone.
export interface HandoffView {
  id: string; url: string; code_url: string; short_code: string; qr: string; link_expires_at: string; stage: string;
  final: boolean; message?: string; status?: string; next_action?: string; decision?: string; error_code?: string;
  submission_id?: string; error?: string;
}

export interface View {
  rev: number; screen: Screen; lang: "en" | "id"; kiosk: boolean; operator?: string; role?: "operator" | "supervisor";
  first_run: boolean; error?: string; device?: DeviceStatus; vault_error?: string; config: SessionConfig; session?: SessionView;
  progress?: Stage[]; result?: ResultView; handoff?: HandoffView; idle_seconds: number;
}

// A verification as the operator opens it (Details): personal, never in the View.
export interface IdentityField { key: string; label: string; value: string; source: string }
export interface DetailImages { document?: string; portrait?: string; selfie?: string; dropped?: boolean }
export interface Gauge { value?: number; threshold: number; pass: boolean }
export interface Check { key: string; name: string; outcome: "pass" | "warn" | "fail" | "not_run"; text: string }
export interface SubmissionDetails {
  id: string; created_at: string; operator: string; doc_type: string; country: string; decision: string; score: number;
  next_action: string; identity: IdentityField[]; images: DetailImages; match: Gauge; liveness: Gauge; checks: Check[];
  do: string; say: string; retry?: string; reasons: string[];
}

export interface Point { x: number; y: number }
export interface Overlay {
  seq: number; message: string; step: string; quad?: Point[]; face?: { x: number; y: number; w: number; h: number };
  oval?: { cx: number; cy: number; rx: number; ry: number }; captured?: string; hint?: string;
}
export interface FrameView {
  seq: number; jpeg: string; width: number; height: number; overlay?: Overlay; message: string; hint?: string; fps: number; live: boolean;
}

export interface Review { state: string; outcome?: string; reason?: string; decided_at?: string }
export interface QueueItem {
  id: string; created_at: string; name: string; doc_type: string; decision: string; operator: string; mine: boolean;
  state: string; attempts: number; reason?: string; review?: Review;
}
export interface SyncStatus {
  enrolled: boolean; central_url?: string; online: boolean; last_contact?: string; last_pass?: string; offline_since?: string;
  queue_depth: number; oldest_queued?: string; rejected: number; last_error?: string;
}
export interface SyncView extends SyncStatus { now: string; max_offline_seconds: number; over_policy: boolean }
export interface WatchlistAge { name: string; since?: "confirmed" | "published"; age_ns: number; known: boolean; stale: boolean }
export interface ScreeningAge { max_age_ns: number; lists: WatchlistAge[]; stale: boolean; problem?: string }
export interface ConfigInUse { watchlists: string[]; risk?: string; problems?: string[]; screening_age?: ScreeningAge; refused?: string }
export interface QueueView { items: QueueItem[]; sync: SyncView; config: ConfigInUse; error?: string }

export interface EnrolRequest { central_url: string; token: string; ca: string; supervisor: string; passphrase: string; again: boolean }
export interface NewOperator { supervisor: string; passphrase: string; name: string; new_passphrase: string; role: "operator" | "supervisor" }
export interface EnrolmentView { enrolled: boolean; device_id?: string; central_url?: string; enrolled_at?: string }

export interface Settings { document_camera: string; selfie_camera: string; lang: "en" | "id"; kiosk: boolean; idle_seconds: number }
// sign_in_to_see: nobody signed in, so no cameras (nor the enrolment's where).
export interface SettingsView { settings: Settings; cameras: { source: string; label: string }[]; sign_in_to_see?: boolean }

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
  Details(id: string): Promise<SubmissionDetails>;
  Enrolment(): Promise<EnrolmentView>;
  Enrol(req: EnrolRequest): Promise<EnrolmentView>;
  ScanQR(camera: string): Promise<string>;
  PreviewCamera(camera: string): Promise<void>;
  StopPreview(): Promise<void>;
  StartHandoff(): Promise<View>;
  EndHandoff(): Promise<View>;
  Wake(): Promise<View>;
  AddOperator(req: NewOperator): Promise<View>;
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
