// Package backup copies central's embedded store (boltstore) while it
// serves, and puts a copy back while it is stopped.
//
// GET /admin/v1/backup (the admin API) answers a consistent copy of the
// whole store file as of one read transaction: staged first in a file
// beside the store, so the transaction lasts as long as a local disk copy
// and not as long as a slow download (a bbolt read transaction held open
// makes writers wait when the file must grow), then sent with its size
// and its SHA-256 (Repr-Digest, RFC 9530). The copy is recorded in the
// audit trail before a byte of it leaves. `kyc-central backup` fetches it
// (Fetch) or, central stopped, copies the file itself (Copy), and either
// way checks every page of the copy (boltstore.Inspect) before it is
// renamed into place (a copy a killed run left beside it is removed by
// the next run into that folder). `kyc-central restore` (Restore) puts a checked copy
// back as the store, keeping the file it replaces and carrying into the
// copy the erasures that file still holds tombstones of (a copy taken
// before an erasure holds the erased submissions; restored over the store
// that erased them, it does not bring them back; restored after the store
// was lost, nothing records those erasures), and only beside a
// keyring that opens its data keys (another central's copy would serve
// a store it cannot read), refusing a copy a newer release wrote
// (boltstore.ErrNewerFormat); it writes it beside the store under a name
// of its own, locked while written, and a copy a killed restore left there
// is removed at the next restore and at central's start
// (RemoveLeftRestores).
//
// A copy holds what the store holds: sealed payloads, wrapped data keys,
// blind-index tokens. It is read only with the keyring and the key files
// of the data folder, which are backed up apart from it (a copy and its
// keys together are the data in clear). PostgreSQL is backed up with its
// own tools (pg_dump, pg_basebackup; `make drills` restores one).
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Path is the admin API's backup endpoint.
const Path = "/admin/v1/backup"

// AuditBackup is the audit action of a copy of the store sent out.
const AuditBackup = "store_backed_up"

// Source is a store that writes a consistent copy of itself while it
// serves (boltstore.Store.Backup).
type Source interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Config is what the backup endpoint needs.
type Config struct {
	// Source is the raw store the copy is taken of; nil on a store that
	// is backed up with its own tools (PostgreSQL), which the endpoint
	// answers 501 backup_unsupported.
	Source Source
	// Store records the copy in the audit trail (the sealed store).
	Store central.Store
	// StageDir is where a copy is staged before it is sent: the store's
	// own folder, on the same disk and as private as the store. Empty is
	// the system's temporary folder, shared with other programs and other
	// centrals, where copies left staged are not removed.
	StageDir string
	// Floor and MinRate bound the download: Floor plus the copy's size at
	// MinRate bytes per second (defaults central.DefaultBodyFloor and
	// central.DefaultMinBodyRate).
	Floor   time.Duration
	MinRate int64
	// Now is central's clock (default time.Now).
	Now func() time.Time
}

// Mount serves GET /admin/v1/backup on srv behind the admin token; false
// when the admin API is disabled. With a Source it first removes the
// copies a central stopped mid-copy (killed, or the machine lost power)
// left staged in StageDir: each is a whole copy of the store, whose
// submissions an erasure since would otherwise outlive, readable with the
// keyring until its next rotation. None is in use: the store's lock
// keeps one central to its folder, and Mount runs before it serves.
func Mount(srv *central.Server, cfg Config) bool {
	if cfg.Source != nil && cfg.StageDir != "" {
		removeStaged(cfg.StageDir)
	}
	if cfg.Floor <= 0 {
		cfg.Floor = central.DefaultBodyFloor
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = central.DefaultMinBodyRate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, one: make(chan struct{}, 1)}
	return srv.MountAdmin("GET "+Path, h.serve)
}

// stagePattern names a copy being staged (os.CreateTemp's pattern).
const stagePattern = ".backup-*"

// removeStaged removes the copies left staged in dir; one it cannot
// remove is tried again at the next start.
func removeStaged(dir string) {
	left, _ := filepath.Glob(filepath.Join(dir, stagePattern)) // the pattern is well formed
	for _, f := range left {
		if fi, err := os.Lstat(f); err == nil && fi.Mode().IsRegular() {
			os.Remove(f)
		}
	}
}

type handler struct {
	cfg Config
	// one is held by the copy being staged and sent: a second at once
	// would only double the disk it takes.
	one chan struct{}
}

// backupState is what the audit trail keeps of a copy.
type backupState struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Source == nil {
		return httpx.Errorf(http.StatusNotImplemented, "backup_unsupported",
			"this central keeps its data in PostgreSQL: back it up with pg_dump or pg_basebackup")
	}
	select {
	case h.one <- struct{}{}:
		defer func() { <-h.one }()
	default:
		return &httpx.Error{Status: http.StatusConflict, Code: "backup_running",
			Message: "another copy of the store is being taken; retry when it is done", RetryAfter: 30 * time.Second}
	}
	ctx := r.Context()
	f, err := os.CreateTemp(h.cfg.StageDir, stagePattern)
	if err != nil {
		return fmt.Errorf("staging a copy of the store: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sum := sha256.New()
	n, err := h.cfg.Source.Backup(ctx, io.MultiWriter(f, sum))
	if err != nil {
		return fmt.Errorf("staging a copy of the store: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading the staged copy: %w", err)
	}
	digest := sum.Sum(nil)
	now := h.cfg.Now().UTC()
	after, err := json.Marshal(backupState{Bytes: n, SHA256: fmt.Sprintf("%x", digest)})
	if err != nil {
		return err
	}
	ev := central.AuditEvent{ID: httpx.RequestID(ctx), At: now, Actor: central.AdminActor(ctx), Action: AuditBackup,
		Subject: "store", Count: 1, After: after}
	if ev.ID == "" {
		ev.ID = httpx.NewRequestID()
	}
	if err := h.cfg.Store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("recording the copy in the audit trail: %w", err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(n))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="central-%s.db"`, now.Format("20060102T150405Z")))
	w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(digest)+":")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(httpx.BodyDeadline(n, h.cfg.Floor, h.cfg.MinRate)))
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%w: sending the copy of the store: %v", httpx.ErrCut, err)
	}
	return nil
}
