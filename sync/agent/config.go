package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// Files SyncConfig keeps in the configuration directory, where the app
// and the CLI read them (VerifyInstalled).
const (
	// ConfigFile holds the protocol.Config in use (LoadConfig reads it):
	// the risk version and document, the challenge, and the watchlists
	// installed, with when central last confirmed each
	// (WatchlistsConfirmed), and central's signed bundles they came from,
	// byte for byte, so every load can check them again.
	ConfigFile = "config.json"
	// RiskFile is where versions before VerifyInstalled kept a copy of
	// the risk document; SyncConfig removes it once ConfigFile holds the
	// signed one, and a device standing alone keeps its own there.
	RiskFile = "risk.json"
	// WatchlistDir holds one file per watchlist, named as central names
	// it. A list named "<name>.list.json.gz" is an engine/screening store
	// file, so screening.OpenStore(<dir>/watchlists) loads it as is.
	WatchlistDir = "watchlists"
)

// ErrConfigPartial means SyncConfig installed some of the configuration but
// not all: the ConfigResult says which lists failed and why; the others
// were installed, and each failed list keeps its previous version.
var ErrConfigPartial = errors.New("agent: part of the configuration could not be installed")

// ErrRiskUnusable means central's risk configuration is not one the engine
// can apply (risk.ParseConfig refused it): the one in use stays, the
// watchlists install, and SyncConfig's error is also ErrConfigPartial.
var ErrRiskUnusable = errors.New("agent: central's risk configuration cannot be applied by this device")

// ErrConfigRollback means central answered with a configuration issued
// before the one installed: a replayed old answer is never installed.
var ErrConfigRollback = errors.New("agent: configuration is older than the one installed")

// rollbackTolerance is how much older than the installed bundle a new one
// may be dated: central's clock may step back a little (an NTP
// correction), and a replay from within minutes carries nothing older.
const rollbackTolerance = 10 * time.Minute

// ConfigResult says what SyncConfig changed.
type ConfigResult struct {
	RiskVersion int64    `json:"risk_version"`
	RiskUpdated bool     `json:"risk_updated"`
	Watchlists  []string `json:"watchlists_updated,omitempty"`
	// Removed lists central no longer publishes; their files are deleted.
	Removed []string `json:"watchlists_removed,omitempty"`
	// Failed maps each list that could not be installed to why.
	Failed map[string]string `json:"watchlists_failed,omitempty"`
}

// LoadConfig reads the configuration in use from dir (ConfigFile), as
// SyncConfig last installed it. A device that never synced gets the zero
// Config (version 0: the built-in risk defaults, no lists, no challenge).
// The app and the CLI put its Challenge into the attestations they make.
func LoadConfig(dir string) (protocol.Config, error) {
	st, err := loadState(dir)
	return st.Config, err
}

// WatchlistsConfirmed reads from dir when central last confirmed each
// installed watchlist, by the device's clock (state.Confirmed): the lists'
// age a verification judges (risk.ScreeningData). A device that never
// synced, or synced before this was recorded, gets an empty map.
func WatchlistsConfirmed(dir string) (map[string]time.Time, error) {
	st, err := loadState(dir)
	if err != nil {
		return nil, err
	}
	if st.Confirmed == nil {
		st.Confirmed = map[string]time.Time{}
	}
	return st.Confirmed, nil
}

// state is what ConfigFile holds: the configuration installed and when
// central last confirmed each list.
type state struct {
	protocol.Config
	// Confirmed maps each installed list to the time, by the device's
	// clock, as of which central last confirmed it is the version it
	// publishes: the moment central signed the bundle naming it
	// (IssuedAt), moved onto the device's clock by the offset measured
	// from central's answers, and never later than the device's clock at
	// the sync, so a bundle replayed from long ago confirms nothing
	// recent.
	Confirmed map[string]time.Time `json:"watchlists_confirmed,omitempty"`
	// Signed is central's bundle this state was installed from, as
	// central signed it; nil in a state written before it was kept.
	Signed *signedCopy `json:"signed,omitempty"`
	// RiskSigned is the bundle the risk document in force came from when
	// it is not Signed (a later one the engine could not apply).
	RiskSigned *signedCopy `json:"risk_signed,omitempty"`
	// Pending are the descriptors of lists SyncConfig is installing, or
	// failed to: their files may hold the new bytes before (or without)
	// this state recording them.
	Pending []protocol.Watchlist `json:"pending,omitempty"`
}

// signedCopy is a protocol.SignedConfig kept at rest: its bytes as
// base64, so that indenting the state never changes what was signed.
type signedCopy struct {
	Config    []byte `json:"config"`
	Signature []byte `json:"signature"`
}

// Open verifies the copy with central's key and decodes it.
func (c *signedCopy) Open(pub ed25519.PublicKey) (protocol.Config, error) {
	return protocol.SignedConfig{Config: c.Config, Signature: c.Signature}.Open(pub)
}

// maxStateFile bounds ConfigFile read back: central's configuration and
// two signed bundles, each an answer of at most maxAnswer, in base64.
const maxStateFile = 4 * maxAnswer

func loadState(dir string) (state, error) {
	var st state
	data, err := atomicfile.Read(filepath.Join(dir, ConfigFile), maxStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading configuration state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return state{}, fmt.Errorf("reading configuration state %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return st, nil
}

// confirmedAsOf is the device-clock time as of which a bundle central
// signed at issued confirms its lists (state.Confirmed).
func (u *Uploader) confirmedAsOf(issued time.Time) time.Time {
	local := u.cfg.Now()
	if off, ok := u.clock.centralOffset(); ok {
		if off == math.MinInt64 {
			// Central's Date centuries behind (the year 1) saturates the
			// offset, by how much unknown, and -off would be off again:
			// said outright, the bundle is dated back by it, not ahead,
			// so that its lists look centuries old rather than confirmed
			// now (TestAbsurdCentralDateConfirmsNothingRecent).
			issued = issued.Add(off)
		} else {
			issued = issued.Add(-off)
		}
	}
	// Without an offset (central's certificate says the device clock is
	// wrong by an unknown amount) central's time stands as it is: the
	// earlier of the two only makes the lists look older.
	if issued.Before(local) {
		return issued
	}
	return local
}

// SyncConfig down-syncs the configuration into dir: it verifies the signed
// bundle with central's key pinned at enrolment, installs risk.json when
// its version changed, then each watchlist whose version changed:
// signature checked, streamed to a temporary file while hashed (never whole
// in memory), size and SHA-256 checked, fsynced and renamed into
// watchlists/<name>. config.json, written last, records what is installed,
// so a crash midway repeats only the unfinished downloads.
//
// One bad list never blocks the others: the rest install, the bad one
// keeps its previous version (if any), and the result is returned with an
// ErrConfigPartial error naming it. A bundle that fails verification, or
// was issued before the installed one (ErrConfigRollback), changes nothing.
func SyncConfig(ctx context.Context, u *Uploader, dir string) (ConfigResult, error) {
	res, _, err := syncConfig(ctx, u, dir, nil)
	return res, err
}

// syncConfig is SyncConfig judging central's answer against floor too,
// the newest configuration installed as the vault recorded it (nil:
// none), when the state on disk is older than that (a copy put back, or
// removed): a replayed older answer is refused, not installed over it.
// It returns the configuration it installed when it installed one (err
// nil or ErrConfigPartial).
func syncConfig(ctx context.Context, u *Uploader, dir string, floor *vault.ConfigMark) (ConfigResult, protocol.Config, error) {
	var res ConfigResult
	remote, signed, err := u.fetchConfig(ctx)
	if err != nil {
		return res, protocol.Config{}, err
	}
	res.RiskVersion = remote.Version
	wlDir := filepath.Join(dir, WatchlistDir)
	if err := os.MkdirAll(wlDir, 0o700); err != nil {
		return res, protocol.Config{}, fmt.Errorf("creating configuration directory: %w", err)
	}
	localState, err := loadState(dir)
	if err != nil {
		// A damaged state file only costs a full download.
		localState = state{}
	}
	// Only what still verifies is kept: a state changed on disk is
	// reinstalled whole, and one from before signatures were kept has its
	// risk document and lists installed again (once, at the upgrade), so
	// an edit made to either is never carried into a signed state.
	trusted := false
	if localState.Signed != nil {
		if in, err := VerifyInstalled(dir, u.cfg.Enrollment.CentralSignKey); err == nil && in.Trust == TrustSigned {
			trusted = true
		} else {
			localState = state{}
		}
	}
	local := localState.Config
	// ref is what central's answer must not be older than: the state on
	// disk, or the newest configuration the vault recorded installing
	// when the state on disk is older than that (a copy put back) or not
	// trusted (changed, removed), so putting an old copy back, or
	// spoiling the state, never lets an older bundle in.
	ref, fromFloor := local, floor != nil && floor.IssuedAt.After(local.IssuedAt)
	if fromFloor {
		ref = markConfig(*floor)
	}
	// A bundle dated ahead of both the device's clock and central's (as
	// its answers now tell) was signed while central's clock ran ahead:
	// ordered by that date, every bundle central issues would be refused
	// until its clock caught up. A replayed bundle cannot be dated so, and
	// whoever can forge central's Date cannot move the device's clock.
	now := u.cfg.Now()
	if off, ok := u.clock.centralOffset(); ok && off > 0 {
		now = now.Add(off) // however far: a device days behind still orders bundles
	}
	if ref.IssuedAt.After(now.Add(rollbackTolerance)) {
		ref.IssuedAt = time.Time{}
	}
	if !ref.IssuedAt.IsZero() && remote.IssuedAt.Before(ref.IssuedAt.Add(-rollbackTolerance)) {
		return res, protocol.Config{}, fmt.Errorf("%w: issued %s, installed %s", ErrConfigRollback, remote.IssuedAt, ref.IssuedAt)
	}
	installed := state{Config: protocol.Config{Version: local.Version, Risk: local.Risk, IssuedAt: remote.IssuedAt, Challenge: remote.Challenge},
		Confirmed: map[string]time.Time{}, Signed: &signedCopy{Config: signed.Config, Signature: signed.Signature}}
	confirmed := u.confirmedAsOf(remote.IssuedAt)
	// keepConfirmed carries a list's earlier confirmation over when this
	// bundle does not confirm it (its new version failed to install).
	keepConfirmed := func(name string) {
		if t, ok := localState.Confirmed[name]; ok {
			installed.Confirmed[name] = t
		}
	}
	if !ref.IssuedAt.IsZero() && !remote.IssuedAt.After(ref.IssuedAt) {
		// Within the tolerance a replay from minutes ago passes the check
		// above: such a bundle may repeat what is installed, never take
		// it back; and the installed date and challenge stay, or replays
		// each a little older would walk the device back ten minutes at a
		// time.
		if what := goesBack(ref, remote); what != "" {
			return res, protocol.Config{}, fmt.Errorf("%w: issued %s, not after the installed %s, with %s", ErrConfigRollback, remote.IssuedAt, ref.IssuedAt, what)
		}
		if !fromFloor {
			installed.IssuedAt, installed.Challenge, installed.Signed = local.IssuedAt, local.Challenge, localState.Signed
		}
	}
	var riskErr error
	if (remote.Version != local.Version || !trusted) && remote.Version > 0 {
		// Central publishes any JSON its admin API is given, and a newer
		// central may name settings this version does not know: a document
		// the engine cannot apply would replace the one in use, and the
		// device would decide with the built-in defaults while reporting
		// central's version.
		if _, err := risk.ParseConfig(remote.Risk); err != nil {
			riskErr = fmt.Errorf("%w: version %d: %w", ErrRiskUnusable, remote.Version, err)
		} else {
			res.RiskUpdated = true
			installed.Version, installed.Risk = remote.Version, remote.Risk
		}
	}

	have := make(map[string]protocol.Watchlist, len(local.Watchlists))
	if trusted {
		for _, w := range local.Watchlists {
			have[w.Name] = w
		}
	}
	fail := func(name string, err error) {
		if res.Failed == nil {
			res.Failed = map[string]string{}
		}
		res.Failed[name] = err.Error()
	}
	// Readers check each list file against the state (VerifyInstalled):
	// the state names the new versions before their files change. A state
	// not trusted stays as it is until the new one replaces it, so that
	// readers go on refusing (or reading unsigned) what they did.
	for _, w := range remote.Watchlists {
		if old, had := have[w.Name]; trusted && (!had || old.Version != w.Version || !slices.Equal(old.SHA256, w.SHA256)) {
			localState.Pending = append(localState.Pending, w)
		}
	}
	if len(localState.Pending) > 0 {
		if err := writeState(dir, localState); err != nil {
			return res, protocol.Config{}, err
		}
	}
	seen := map[string]bool{}
	for _, w := range remote.Watchlists {
		if seen[w.Name] {
			fail(w.Name, errors.New("listed twice in the configuration"))
			continue
		}
		seen[w.Name] = true
		old, had := have[w.Name]
		path := filepath.Join(wlDir, w.Name)
		if had && old.Version == w.Version && slices.Equal(old.SHA256, w.SHA256) && fileExists(path) {
			installed.Watchlists = append(installed.Watchlists, old)
			installed.Confirmed[w.Name] = confirmed
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, protocol.Config{}, err
		}
		if err := installWatchlist(ctx, u, wlDir, w); err != nil {
			if ctx.Err() != nil {
				return res, protocol.Config{}, ctx.Err()
			}
			fail(w.Name, err)
			installed.Pending = append(installed.Pending, w) // its file may be half done: renamed, not yet synced
			if had && fileExists(path) && protocol.ValidName(w.Name) {
				installed.Watchlists = append(installed.Watchlists, old) // still in use
				keepConfirmed(w.Name)
			}
			continue
		}
		installed.Watchlists = append(installed.Watchlists, w)
		installed.Confirmed[w.Name] = confirmed
		res.Watchlists = append(res.Watchlists, w.Name)
	}
	if installed.riskFrom(localState, u.cfg.Enrollment.CentralSignKey) {
		// A copy of the document beside the state is from before: the
		// one in force is in ConfigFile, signed, and a copy there would be
		// refused (VerifyInstalled).
		if err := os.Remove(filepath.Join(dir, RiskFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, protocol.Config{}, fmt.Errorf("removing the unsigned risk configuration: %w", err)
		}
	}
	if err := writeState(dir, installed); err != nil {
		return res, protocol.Config{}, err
	}
	// Lists central stopped publishing are no longer in force; a file the
	// state does not name goes once the state no longer names it.
	inForce := map[string]bool{}
	for _, w := range installed.Watchlists {
		inForce[w.Name] = true
	}
	ents, err := os.ReadDir(wlDir)
	if err != nil {
		return res, protocol.Config{}, fmt.Errorf("reading %s: %w", wlDir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if inForce[name] || strings.HasPrefix(name, ".") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(wlDir, name)); err != nil {
			fail(name, fmt.Errorf("removing a list central does not publish: %w", err))
			continue
		}
		if _, had := have[name]; had && !seen[name] {
			res.Removed = append(res.Removed, name)
		}
	}
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(res.Failed)) {
		parts = append(parts, n+": "+res.Failed[n])
	}
	switch {
	case riskErr != nil && len(parts) > 0:
		return res, installed.Config, fmt.Errorf("%w: %w; %s", ErrConfigPartial, riskErr, strings.Join(parts, "; "))
	case riskErr != nil:
		return res, installed.Config, fmt.Errorf("%w: %w", ErrConfigPartial, riskErr)
	case len(parts) > 0:
		return res, installed.Config, fmt.Errorf("%w: %s", ErrConfigPartial, strings.Join(parts, "; "))
	}
	return res, installed.Config, nil
}

// riskFrom records which of central's bundles the risk document in force
// came from: st.Signed, else the one it came from before (local's),
// which is kept; true when one is. With neither (a document installed
// before signatures were kept, and central's latest unusable) the state
// keeps no signature: it stays unsigned until central's risk
// configuration installs.
func (st *state) riskFrom(local state, pub ed25519.PublicKey) bool {
	matches := func(c *signedCopy) bool {
		if c == nil {
			return false
		}
		sc, err := c.Open(pub)
		return err == nil && sc.Version == st.Version && sameJSON(sc.Risk, st.Risk)
	}
	switch {
	case matches(st.Signed):
	case matches(local.RiskSigned):
		st.RiskSigned = local.RiskSigned
	case matches(local.Signed):
		st.RiskSigned = local.Signed
	default:
		st.Signed = nil
		return false
	}
	return true
}

// writeState writes st into dir's ConfigFile.
func writeState(dir string, st state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding configuration state: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, ConfigFile), data)
}

// goesBack names what remote would take back from local: an older risk
// version, an older version of an installed list, or an installed list
// withdrawn; "" when it takes back nothing.
func goesBack(local, remote protocol.Config) string {
	if remote.Version > 0 && remote.Version < local.Version {
		return fmt.Sprintf("risk configuration version %d, installed %d", remote.Version, local.Version)
	}
	versions := make(map[string]int64, len(remote.Watchlists))
	for _, w := range remote.Watchlists {
		versions[w.Name] = w.Version
	}
	for _, w := range local.Watchlists {
		v, ok := versions[w.Name]
		switch {
		case !ok:
			return fmt.Sprintf("watchlist %s withdrawn", w.Name)
		case v < w.Version:
			return fmt.Sprintf("watchlist %s version %d, installed %d", w.Name, v, w.Version)
		}
	}
	return ""
}

// installWatchlist verifies w's signature, streams its bytes into a
// temporary file in dir and renames it over dir/<name> once size and
// SHA-256 match.
func installWatchlist(ctx context.Context, u *Uploader, dir string, w protocol.Watchlist) error {
	if !protocol.ValidName(w.Name) {
		return fmt.Errorf("invalid watchlist name %q", w.Name)
	}
	if err := protocol.VerifyWatchlist(u.cfg.Enrollment.CentralSignKey, w); err != nil {
		return err
	}
	if w.Size > protocol.MaxWatchlistSize {
		return fmt.Errorf("watchlist of %d bytes, beyond the limit of %d", w.Size, protocol.MaxWatchlistSize)
	}
	// A dot name: screening's store skips it, and no list can be called so.
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	err = u.DownloadWatchlist(ctx, w, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, w.Name)); err != nil {
		return fmt.Errorf("installing: %w", err)
	}
	return atomicfile.SyncDir(dir)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
