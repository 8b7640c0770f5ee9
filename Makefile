# The two commands of the README:
#   make run   installs what is missing, builds, and starts the desktop app
#   make test  installs what is missing, builds, and runs every check and test
# Everything else here is a step of those two.

SHELL := /bin/bash
SHARED ?= $(abspath ../shared)
export KYC_SHARED_DIR ?= $(SHARED)
export KYC_MODEL_MIRROR ?= $(SHARED)/models
# The demo camera's person for `make run` (the app reads no test setting).
export KYC_DEMO_PHOTO ?= $(SHARED)/data/liveness/interfaces_cc0/083.jpg
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DESKTOP_TAGS := desktop,production,webkit2_41
# webkit2_41 selects the WebKitGTK 4.1 that Debian 12 ships for every
# package that imports Wails, including go vet's and go test's builds.
export GOFLAGS ?= -tags=webkit2_41
# x86-64-v2 (POPCNT and SSE4.2: Intel since Nehalem and Silvermont Atoms, AMD since 2011)
# makes math/bits' popcount one instruction instead of a call behind a CPU
# check: the copy-move check's descriptor search runs twice as fast.
export GOAMD64 ?= v2
FRONTEND_SRC := $(shell find frontend/src -type f) frontend/index.html frontend/package.json frontend/vite.config.ts frontend/tsconfig.json
CONSOLE_WEB := sync/central/console/web
CONSOLE_VENDOR := $(CONSOLE_WEB)/dist/vendor/chart.umd.min.js
ARTIFACTS ?= $(CURDIR)/artifacts/test-$(shell date -u +%Y%m%d-%H%M%S)

.PHONY: run test bench setup system models build cli desktop lint go-test clean cluster drills

run: setup build
	@if [ -n "$$DISPLAY" ]; then bin/kyc-desktop; \
	else echo "no DISPLAY: starting the app on a virtual display (xvfb-run)"; xvfb-run -a -s "-screen 0 1280x800x24" bin/kyc-desktop; fi

test: setup build lint go-test

setup: system models

system:
	@scripts/setup.sh

# The runtime and models, installed outside git and checked by sha256.
models: cli
	@bin/kyc models install > /dev/null

build: cli desktop

cli: $(CONSOLE_VENDOR)
	@echo "==> building bin/kyc and bin/kyc-central (the first cgo build of OpenCV takes about a minute)"
	@go build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...
	@bin/sealbin bin/kyc bin/kyc-central > /dev/null

desktop: cli frontend/dist/index.html
	@echo "==> building bin/kyc-desktop"
	@go build -tags $(DESKTOP_TAGS) -ldflags "$(LDFLAGS)" -o bin/kyc-desktop .
	@bin/sealbin bin/kyc-desktop > /dev/null

# The console's vendor scripts (Chart.js from npm, at the version the lockfile
# pins), copied where kyc-central embeds them (web/dist, git-ignored but for
# its .gitkeep): the console builds without them, and its charts then show as
# tables only.
$(CONSOLE_VENDOR): $(CONSOLE_WEB)/package.json $(CONSOLE_WEB)/package-lock.json
	@echo "==> installing the console's vendor scripts"
	@cd $(CONSOLE_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(@D)
	@cp $(CONSOLE_WEB)/node_modules/chart.js/dist/chart.umd.min.js $@

frontend/dist/index.html: $(FRONTEND_SRC)
	@echo "==> building the frontend"
	@cd frontend && npm run build --silent

# The README's measured targets, as go test benchmarks (each prints its own
# row; the verification ones add cpu-ms/op and each stage's median).
bench: setup
	@go test -run '^$$' -bench 'BenchmarkVerify|BenchmarkAnalyze$$|BenchmarkFaceMatch|BenchmarkProcess' -benchtime 15x \
		./engine/verify ./engine/document ./engine/face ./app
	@go test -run '^$$' -bench 'BenchmarkScreen$$|BenchmarkDocumentGuide|BenchmarkSelfieGuide|BenchmarkPutSubmission$$' \
		./engine/screening ./engine/capture ./sync/vault

# Central scaled out on this machine (bin/kyc-drill, README "Central scaled
# out"): three kyc-central instances on one PostgreSQL behind HAProxy
# terminating TLS at https://127.0.0.1:8443, until Ctrl-C; and the drills'
# table (kill -9 under load, PostgreSQL restart, backup restored, key
# rotation), a few minutes.
cluster: setup cli
	@bin/kyc-drill cluster

drills: setup cli
	@bin/kyc-drill drills

lint:
	@echo "==> gofmt, go vet and staticcheck"
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	@go vet ./...
	@go tool staticcheck ./...

# -timeout: go test's default ten minutes per package is less than the
# browser packages take on a slow CI machine (hostedflow took 577 s there).
go-test:
	@echo "==> go test (artifacts: $(ARTIFACTS))"
	@KYC_DESKTOP_BIN=$(CURDIR)/bin/kyc-desktop KYC_ARTIFACTS=$(ARTIFACTS) go test -count=1 -timeout 45m ./...

clean:
	rm -rf bin artifacts frontend/dist/assets frontend/dist/index.html $(CONSOLE_WEB)/dist/vendor
