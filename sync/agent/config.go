package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/protocol"
)

// Files SyncConfig keeps in its directory.
const (
	configStateFile = "config.json" // the protocol.Config last applied
	riskFile        = "risk.json"   // the risk configuration document
	watchlistDir    = "watchlists"  // one file per watchlist, by name
)

// ConfigResult says what SyncConfig changed.
type ConfigResult struct {
	RiskVersion int64    `json:"risk_version"`
	RiskUpdated bool     `json:"risk_updated"`
	Watchlists  []string `json:"watchlists_updated,omitempty"`
}

// SyncConfig down-syncs the risk configuration and the watchlists into dir:
// risk.json, watchlists/<name>, and config.json recording the versions
// applied. Only what changed is downloaded. Every file is replaced
// atomically and config.json last, so a crash mid-way repeats the
// unfinished downloads next time.
func SyncConfig(ctx context.Context, u *Uploader, dir string) (ConfigResult, error) {
	var res ConfigResult
	remote, err := u.FetchConfig(ctx)
	if err != nil {
		return res, err
	}
	res.RiskVersion = remote.Version
	if err := os.MkdirAll(filepath.Join(dir, watchlistDir), 0o700); err != nil {
		return res, fmt.Errorf("creating configuration directory: %w", err)
	}
	local, err := readConfigState(dir)
	if err != nil {
		return res, err
	}
	if remote.Version != local.Version && remote.Version > 0 {
		if !json.Valid(remote.Risk) {
			return res, errors.New("central sent a risk configuration that is not JSON")
		}
		if err := atomicfile.Write(filepath.Join(dir, riskFile), remote.Risk); err != nil {
			return res, err
		}
		res.RiskUpdated = true
	}
	have := make(map[string]int64, len(local.Watchlists))
	for _, w := range local.Watchlists {
		have[w.Name] = w.Version
	}
	for _, w := range remote.Watchlists {
		path := filepath.Join(dir, watchlistDir, w.Name)
		if v, ok := have[w.Name]; ok && v == w.Version && fileExists(path) {
			continue
		}
		data, err := u.FetchWatchlist(ctx, w) // validates the name
		if err != nil {
			return res, err
		}
		if err := atomicfile.Write(path, data); err != nil {
			return res, err
		}
		res.Watchlists = append(res.Watchlists, w.Name)
	}
	state, err := json.MarshalIndent(remote, "", "  ")
	if err != nil {
		return res, fmt.Errorf("encoding configuration state: %w", err)
	}
	return res, atomicfile.Write(filepath.Join(dir, configStateFile), state)
}

func readConfigState(dir string) (protocol.Config, error) {
	var c protocol.Config
	data, err := os.ReadFile(filepath.Join(dir, configStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("reading configuration state: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		// A damaged state file only costs a full download.
		return protocol.Config{}, nil
	}
	return c, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
