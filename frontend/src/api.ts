// Typed access to the Go methods Wails binds on window.go.app.App.

export interface Camera {
  index: number;
  path: string;
  name: string;
  virtual_hint: boolean;
}

export interface ModelStatus {
  name: string;
  version: string;
  kind: string;
  license: string;
  purpose: string;
  verified: boolean;
  problem?: string;
}

export interface DeviceFinding {
  name: string;
  status: "pass" | "warn" | "fail";
  severity: string;
  evidence: Record<string, string>;
}

export interface DeviceStatus {
  profile: string;
  verdict: "ok" | "warn" | "block";
  findings: DeviceFinding[];
  error?: string;
}

export interface HomeInfo {
  version: string;
  onnxruntime: string;
  opencv: string;
  gocv: string;
  runtime_error?: string;
  cameras: Camera[];
  camera_error?: string;
  models: ModelStatus[];
  models_ok: boolean;
  device: DeviceStatus;
}

interface AppBinding {
  Home(): Promise<HomeInfo>;
  HomeRendered(): Promise<void>;
}

declare global {
  interface Window {
    go?: { app?: { App?: AppBinding } };
  }
}

export function backend(): AppBinding {
  const b = window.go?.app?.App;
  if (!b) {
    throw new Error("the Go backend is not bound (run inside the desktop app)");
  }
  return b;
}
