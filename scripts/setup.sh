#!/usr/bin/env bash
# Installs what the product needs on a Debian 12 machine: the system
# libraries (OpenCV, WebKitGTK), the tools the tests drive (Xvfb, ffmpeg,
# Chromium, PostgreSQL, the OCR-B font) and the frontend's npm packages.
# Idempotent: when everything is in place it only checks, in about a second.
# Models and the ONNX Runtime library are installed by `bin/kyc models
# install` (the Makefile's `models` target), which verifies every sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

apt_packages=(
  pkg-config libopencv-dev        # OpenCV 4.6 for gocv
  libgtk-3-dev libwebkit2gtk-4.1-dev  # the Wails window (build tag webkit2_41)
  libegl-dev                      # EGL, which the window keeps out of its process without a GPU (main.go)
  xvfb xauth                      # a display for the window in tests and headless runs
  dbus                            # the session bus a kiosk's single-instance lock uses (and its test)
  ffmpeg                          # screenshots and test videos
  chromium                        # UI tests
  fonts-ocr-b fonts-dejavu-core pango1.0-tools  # synthetic documents (OCR-B is the MRZ typeface, drawn with pango-view); UI font
  postgresql                      # a real server for the central store tests
  haproxy                         # the load balancer of `make cluster` and the scale-out drills
)

# --- system packages ---------------------------------------------------------
missing=()
for p in "${apt_packages[@]}"; do
  [[ $p == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: this setup supports Debian 12"
  if [[ $(id -u) != 0 ]]; then
    die "missing Debian packages: ${missing[*]}. Run this as root, or: sudo apt-get install ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]} (OpenCV alone is about 700 MB: a few minutes the first time)"
  apt-get update -q -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
fi
pkg-config --exists opencv4 || die "libopencv-dev is installed but pkg-config cannot find opencv4"

# --- toolchains --------------------------------------------------------------
need_go=1.26
command -v go >/dev/null || die "Go $need_go or newer is missing: install it from go.dev/dl into /usr/local/go and put /usr/local/go/bin on PATH"
have_go=$(go env GOVERSION | sed 's/^go//')
if [[ $(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1) != "$need_go" ]]; then
  die "Go $have_go is too old: this module needs Go $need_go or newer"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  [[ $(id -u) == 0 ]] || die "Node.js 20.19+ and npm are missing: install them (sudo apt-get install nodejs npm, or a newer Node.js)"
  say "installing Node.js and npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 nodejs npm
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' ||
  die "Node.js $(node --version) is too old: the frontend build (vite 8) needs Node.js 20.19 or newer"

# --- frontend packages -------------------------------------------------------
# npm ci fails here (the lockfile lacks other platforms' optional packages),
# so npm install, and only when package.json or the lockfile changed.
stamp=frontend/node_modules/.openkyc-installed
if [[ ! -f $stamp || frontend/package.json -nt $stamp || frontend/package-lock.json -nt $stamp ]]; then
  say "installing frontend npm packages"
  (cd frontend && npm install --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
say "system set-up complete"
