package deviceconf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// Files sync keeps in the configuration folder (sync/agent).
const (
	riskFile = agent.RiskFile // central's risk configuration document
	// listSuffix ends a watchlist file: central serves each list under
	// the name `kyc watchlist import` stores it as, NAME.list.json.gz.
	listSuffix = ".list.json.gz"
)

// WatchlistDirs are the folders screened against, the one that wins a
// name clash first: the lists central sent (signed, verified by sync),
// then those imported on this device. Central's list wins so that a
// local import cannot replace the organisation's list of the same name.
func (d Device) WatchlistDirs() []string {
	dirs := []string{d.SyncedWatchlists()}
	if d.LocalWatchlists != "" {
		dirs = append(dirs, d.LocalWatchlists)
	}
	return dirs
}

// Watchlists are the lists a verification screens against.
type Watchlists struct {
	Lists []*screening.List `json:"-"`
	// From maps each loaded list's name to the folder it came from.
	From map[string]string `json:"from"`
	// Problems are the files not used, in words: a corrupt list, a file
	// that is not a list, a local list hidden by central's. One bad list
	// never keeps the others out.
	Problems []string `json:"problems,omitempty"`

	// signed is the configuration sync installed, as verified against
	// central's key when Load read the lists (nil otherwise): the
	// confirmations and the lists missing that ScreeningData ages.
	signed *agent.Installed
	// unverified: Load read them on an enrolled device whose
	// configuration it could not check against central's key.
	unverified bool
}

// UnverifiedLists names, in the screening data, central's lists on an
// enrolled device whose configuration is not verified: of unknown age.
const UnverifiedLists = "central's lists (configuration not verified: sync with central)"

// Index is the screening index of the lists; nil when there are none,
// which leaves the sanctions signal missing.
func (w Watchlists) Index() *screening.Index {
	if len(w.Lists) == 0 {
		return nil
	}
	return screening.NewIndex(w.Lists...)
}

// Names are the lists loaded, as NAME@VERSION.
func (w Watchlists) Names() []string {
	out := make([]string, 0, len(w.Lists))
	for _, l := range w.Lists {
		out = append(out, l.Name+"@"+l.Version)
	}
	return out
}

// ScreeningData is what the risk policy judges the age of w's lists by at
// now (risk.Input.Screening): each list's date and, for a list loaded from
// the folder sync fills, when central last confirmed it
// (agent.WatchlistsConfirmed). A configuration state sync cannot read
// leaves central's lists unconfirmed: aged by their dates, never fresher.
//
// Lists Load verified are aged by central's signed confirmation; a list
// central's bundle names that the device does not hold is screened as of
// unknown age, so a would-be approval goes to review (SCREENING_STALE),
// and so is every screening on an enrolled device whose configuration
// Load could not verify (UnverifiedLists).
func (d Device) ScreeningData(w Watchlists, now time.Time) *risk.ScreeningData {
	var confirmed map[string]time.Time
	var missing []string
	if w.signed != nil {
		confirmed, missing = w.signed.Confirmed, w.signed.Missing
	} else {
		confirmed, _ = agent.WatchlistsConfirmed(d.ConfigDir())
	}
	data := &risk.ScreeningData{At: now, Lists: make([]risk.WatchlistDates, 0, len(w.Lists)+len(missing))}
	for _, l := range w.Lists {
		wd := risk.WatchlistDates{Name: l.Name, Published: l.Date}
		if w.From[l.Name] == d.SyncedWatchlists() {
			wd.Confirmed = confirmed[l.Name+listSuffix]
		}
		data.Lists = append(data.Lists, wd)
	}
	for _, name := range missing {
		data.Lists = append(data.Lists, risk.WatchlistDates{Name: strings.TrimSuffix(name, listSuffix)})
	}
	if w.unverified {
		data.Lists = append(data.Lists, risk.WatchlistDates{Name: UnverifiedLists})
	}
	return data
}

// LoadWatchlists loads every list file of dirs, each on its own; on a
// name clash the list of the earlier folder is used. A folder that does
// not exist holds no lists. The error is only ever ctx's.
func LoadWatchlists(ctx context.Context, dirs ...string) (Watchlists, error) {
	w := Watchlists{From: map[string]string{}}
	for _, dir := range dirs {
		if err := w.addDir(ctx, dir); err != nil {
			return w, err
		}
	}
	w.sort()
	return w, nil
}

// addDir adds the lists of the files in dir, read from there.
func (w *Watchlists) addDir(ctx context.Context, dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		w.Problems = append(w.Problems, fmt.Sprintf("reading the watchlist folder %s: %v", dir, err))
		return nil
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue // a temporary file of an interrupted write
		}
		list, ok := w.listOf(dir, e.Name())
		if !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := w.add(ctx, dir, list, func() (*screening.List, error) { return readListFile(ctx, path, list) }); err != nil {
			return err
		}
	}
	return nil
}

// readListFile reads the list called list from the regular file at path:
// a FIFO in a folder of lists would hold the load waiting for a writer.
func readListFile(ctx context.Context, path, list string) (*screening.List, error) {
	f, err := atomicfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading list: %w", err)
	}
	defer f.Close()
	return screening.ReadList(ctx, f, list, path)
}

// addVerified adds the lists of dir from the bytes of its files as
// agent.LoadInstalled checked them: what is screened is what was
// verified, with no second read that a file swapped in between could
// slip into.
func (w *Watchlists) addVerified(ctx context.Context, dir string, files map[string][]byte) error {
	for _, file := range slices.Sorted(maps.Keys(files)) {
		list, ok := w.listOf(dir, file)
		if !ok {
			continue
		}
		read := func() (*screening.List, error) {
			return screening.ReadList(ctx, bytes.NewReader(files[file]), list, filepath.Join(dir, file))
		}
		if err := w.add(ctx, dir, list, read); err != nil {
			return err
		}
	}
	return nil
}

// listOf is the list the file named file in dir holds, by its name;
// false, with the problem noted, for a file that is not a list or a list
// already loaded from an earlier folder.
func (w *Watchlists) listOf(dir, file string) (string, bool) {
	list, ok := strings.CutSuffix(file, listSuffix)
	if !ok {
		w.Problems = append(w.Problems, fmt.Sprintf("%s: not a watchlist file (lists are named NAME%s, as `kyc watchlist import` writes them)",
			filepath.Join(dir, file), listSuffix))
		return "", false
	}
	if from, dup := w.From[list]; dup {
		w.Problems = append(w.Problems, fmt.Sprintf("%s: list %q is already loaded from %s, which wins", filepath.Join(dir, file), list, from))
		return "", false
	}
	return list, true
}

// add adds the list read returns, from dir, or notes why it cannot; the
// error is only ever ctx's.
func (w *Watchlists) add(ctx context.Context, dir, list string, read func() (*screening.List, error)) error {
	l, err := read()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.Problems = append(w.Problems, err.Error())
		return nil
	}
	w.Lists = append(w.Lists, l)
	w.From[list] = dir
	return nil
}

func (w *Watchlists) sort() {
	sort.Slice(w.Lists, func(i, j int) bool { return w.Lists[i].Name < w.Lists[j].Name })
}

// Risk is the risk configuration a verification decides with.
type Risk struct {
	Config risk.Config `json:"-"`
	// Path is the document applied; empty for the built-in defaults.
	Path string `json:"path,omitempty"`
	// Problem says why the synced document is not applied, if it is not.
	Problem string `json:"problem,omitempty"`
	// Version is central's version of the configuration applied (0 for
	// the built-in defaults), sealed with each result so central judges
	// the decision by its bands (agent.InstalledRiskVersion); nil when
	// the document is not the one sync last recorded installing.
	Version *int64 `json:"version,omitempty"`
}

// LoadRisk reads configDir/risk.json, central's risk configuration laid
// over the defaults (risk.ParseConfig). Without one, on a device sync
// never gave one, the built-in defaults apply. A document missing or
// invalid is reported in Problem and not applied: the document sync
// recorded installing (agent.ConfigFile) applies instead, else last, the
// configuration in use before, else the defaults. Deleting or spoiling
// risk.json therefore never brings the built-in defaults back on a
// device that has central's configuration.
func LoadRisk(configDir string, last *Risk) Risk {
	// A risk configuration is a few kilobytes; the bound keeps whatever
	// took its place from filling memory.
	const maxRiskFile = 1 << 20
	path := filepath.Join(configDir, riskFile)
	b, err := atomicfile.Read(path, maxRiskFile)
	if err == nil {
		var cfg risk.Config
		if cfg, err = risk.ParseConfig(b); err == nil {
			r := Risk{Config: cfg, Path: path}
			if v, ok := agent.InstalledRiskVersion(configDir, b); ok {
				r.Version = &v
			}
			return r
		}
	}
	installed, recorded := recordedRisk(configDir)
	if errors.Is(err, fs.ErrNotExist) && !recorded {
		return Risk{Config: risk.DefaultConfig(), Version: new(int64)}
	}
	r, kept := Risk{Config: risk.DefaultConfig(), Version: new(int64)}, "the built-in defaults stay"
	switch {
	case recorded:
		r, kept = installed, fmt.Sprintf("version %d, as sync recorded installing it, stays", *installed.Version)
	case last != nil:
		r = *last
		if r.Path != "" {
			kept = "the configuration applied before stays"
		}
	}
	what := fmt.Sprintf("is not applied (%v)", err)
	if errors.Is(err, fs.ErrNotExist) {
		what = "is missing"
	}
	r.Problem = fmt.Sprintf("the synced risk configuration %s %s; %s in use", path, what, kept)
	return r
}

// recordedRisk is the risk document sync recorded installing in
// configDir's agent.ConfigFile, with its version; false when it recorded
// none (or one this version cannot apply, which sync never installs).
func recordedRisk(configDir string) (Risk, bool) {
	c, err := agent.LoadConfig(configDir)
	if err != nil || c.Version <= 0 || len(c.Risk) == 0 {
		return Risk{}, false
	}
	cfg, err := risk.ParseConfig(c.Risk)
	if err != nil {
		return Risk{}, false
	}
	return Risk{Config: cfg, Path: filepath.Join(configDir, agent.ConfigFile), Version: &c.Version}, true
}

// Challenge is central's attestation challenge from the last configuration
// sync verified (agent.LoadConfig), for Attestation.Nonce; empty before
// the first sync.
func Challenge(configDir string) (string, error) {
	c, err := agent.LoadConfig(configDir)
	if err != nil {
		return "", fmt.Errorf("reading the synced configuration: %w", err)
	}
	return c.Challenge, nil
}

// Source says where the configuration a verification decides with came
// from, and how far it was checked.
type Source string

const (
	// SourceLocal: the device is not enrolled; its administrator
	// configures it (risk.json in the configuration folder, lists
	// imported on the device), nothing is signed.
	SourceLocal Source = "local, unsigned"
	// SourceCentral: central's signed configuration, verified with its
	// key pinned at enrolment at this load.
	SourceCentral Source = "signed by central, verified"
	// SourceCentralUnsigned: central's configuration as a version that
	// did not keep its signature installed it; the next sync replaces
	// it with a signed one.
	SourceCentralUnsigned Source = "from central, unsigned until the next sync"
)

// ErrNotSynced means the device is enrolled but holds no configuration
// from central: sync has not installed one yet, or it was deleted. An
// enrolled device decides only with central's configuration, never with
// the built-in defaults in its place.
var ErrNotSynced = errors.New("the device is enrolled but holds no configuration from central: sync with central (kyc sync) before verifying")

// Pins reads what the device keeps of its enrolment where it cannot be
// deleted alone: its vault (vault.Vault.Pinned). The app passes the
// vault it holds open; a command that does not hold it, VaultPins.
type Pins interface {
	Pinned(ctx context.Context) (vault.Pin, bool, error)
}

// VaultPins reads the pin from the device's vault, opened read-only for
// each read, for a command that does not hold the vault open. A device
// without a vault file has no pin, unless it is enrolled: its vault was
// made before the enrolment was written, so one missing was deleted, and
// its pin with it (vault.ErrMissing). One whose vault does not open (its
// key missing, another process holding it) is an error, never "no pin".
func (d Device) VaultPins() Pins { return vaultPins{d} }

type vaultPins struct{ d Device }

func (p vaultPins) Pinned(ctx context.Context) (vault.Pin, bool, error) {
	if _, err := os.Stat(p.d.VaultPath()); errors.Is(err, fs.ErrNotExist) {
		return vault.Pin{}, false, vault.Missing(p.d.VaultPath(), p.d.EnrollmentPath())
	}
	k, err := p.d.VaultKey()
	if err != nil {
		return vault.Pin{}, false, fmt.Errorf("the vault key: %w", err)
	}
	// The app holds its vault for as long as it runs: a command run
	// beside it learns so in a second rather than the default wait.
	v, err := vault.Open(ctx, p.d.VaultPath(), k.Source, vault.Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return vault.Pin{}, false, err
	}
	defer v.Close()
	return v.Pinned(ctx)
}

// Config is what a verification on this device is configured by.
type Config struct {
	Risk       Risk
	Watchlists Watchlists
	// Screening is the index of Watchlists (nil without lists).
	Screening *screening.Index
	// Source says where the configuration came from; Warning, when set,
	// says what the operator should do about it (sync, enrol).
	Source  Source
	Warning string

	stamp, riskStamp, listStamp string
}

// Load reads the configuration verifications decide with; the app and
// the command line both go through it. On an enrolled device it is the
// one sync installed, checked against central's signature
// (agent.LoadInstalled) at every load: one changed on disk is
// agent.ErrConfigAltered and nothing is decided on it, never the
// built-in defaults in its place. A device not enrolled reads its own
// risk.json and lists as before (LoadRisk, LoadWatchlists).
//
// pins holds what the vault keeps of the enrolment (nil: the device has
// no vault). A device whose vault pinned an enrolment that the enrolment
// file no longer is (deleted, changed) is agent.ErrEnrollmentRemoved,
// never a device standing alone; a configuration older than the newest
// sync installed (a signed copy put back) is agent.ErrConfigRollback.
//
// Given the configuration loaded before, it reads again only what changed
// on disk (a few stat calls otherwise), so an app can call it before every
// verification, and on a device not enrolled it keeps last's risk
// configuration when the new document is invalid.
func (d Device) Load(ctx context.Context, last *Config, pins Pins) (*Config, error) {
	var pin vault.Pin
	var pinned, unread bool
	if pins != nil {
		var err error
		pin, pinned, err = pins.Pinned(ctx)
		switch {
		case errors.Is(err, vault.ErrLocked) && fileExists(d.EnrollmentPath()):
			// The app or a sync loop holds the vault, and checks the pin
			// itself. With the enrolment file in place, central's
			// signature is still checked below; only the check against
			// an older copy put back waits for the vault. Without the
			// file, whether the device was enrolled is the vault's to
			// say, and nothing is loaded.
			unread = true
		case err != nil:
			return nil, fmt.Errorf("loading the device configuration: %w", err)
		}
	}
	cfgDir := d.ConfigDir()
	all := stamp(append([]string{d.EnrollmentPath(), filepath.Join(cfgDir, agent.ConfigFile), filepath.Join(cfgDir, riskFile)}, d.WatchlistDirs()...)...) + pinStamp(pin, pinned)
	if last != nil && last.stamp == all {
		return last, nil
	}
	enr, err := identity.LoadEnrollment(d.EnrollmentPath())
	switch {
	case pinned && errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w (%s is missing; the vault records the enrolment with %s)", agent.ErrEnrollmentRemoved, d.EnrollmentPath(), pin.CentralURL)
	case pinned && err == nil:
		if err := agent.CheckPin(pin, enr); err != nil {
			return nil, err
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c, err := d.loadLocal(ctx, last)
		if err != nil {
			return nil, err
		}
		c.stamp, c.Source = all, SourceLocal
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("loading the device configuration: %w", err)
	case len(enr.CentralSignKey) == 0:
		// Enrolled before central signed configuration: sync installs
		// none (agent.ErrNoSignKey), so what is there is the device's own.
		c, err := d.loadLocal(ctx, last)
		if err != nil {
			return nil, err
		}
		c.stamp, c.Source, c.Warning = all, SourceLocal, agent.ErrNoSignKey.Error()
		c.Watchlists.unverified = true
		return c, nil
	}
	in, err := agent.LoadInstalled(cfgDir, enr.CentralSignKey)
	if err != nil {
		return nil, fmt.Errorf("loading the device configuration: %w", err)
	}
	if pinned && pin.Config != nil && in.Trust != agent.TrustNone {
		// Sync installed a signed configuration: an unsigned one, or an
		// older one central signed, is a copy put back.
		if in.Trust == agent.TrustUnsigned {
			return nil, fmt.Errorf("loading the device configuration: %w: an unsigned configuration where sync installed central's signed one: sync again", agent.ErrConfigRollback)
		}
		if err := agent.CheckMark(pin.Config, in.Config, time.Now()); err != nil {
			return nil, fmt.Errorf("loading the device configuration: %w: a copy put back on disk? sync again to reinstall central's current one", err)
		}
	}
	switch in.Trust {
	case agent.TrustNone:
		return nil, ErrNotSynced
	case agent.TrustUnsigned:
		c, err := d.loadLocal(ctx, last)
		if err != nil {
			return nil, err
		}
		c.stamp, c.Source = all, SourceCentralUnsigned
		c.Warning = "the configuration from central was installed before this version kept its signature and cannot be checked, so verifications approve nobody (they go to review): sync with central (kyc sync) to replace it with a signed one"
		c.Watchlists.unverified = true
		return c, nil
	}
	c := &Config{stamp: all, Source: SourceCentral}
	if unread {
		c.Warning = "the vault is in use (the app or kyc sync holds it): central's signature was checked, but not that this is the newest configuration sync installed"
	}
	c.Risk = Risk{Config: risk.DefaultConfig(), Path: filepath.Join(cfgDir, agent.ConfigFile), Version: &in.Config.Version}
	if len(in.Config.Risk) > 0 {
		// Sync installs only a document the engine can apply.
		if c.Risk.Config, err = risk.ParseConfig(in.Config.Risk); err != nil {
			return nil, fmt.Errorf("loading the device configuration: central's risk configuration version %d: %w", in.Config.Version, err)
		}
	}
	// Central's lists from the bytes just verified, then the local ones.
	w := Watchlists{From: map[string]string{}}
	if err := w.addVerified(ctx, d.SyncedWatchlists(), in.Lists); err != nil {
		return nil, err
	}
	if d.LocalWatchlists != "" {
		if err := w.addDir(ctx, d.LocalWatchlists); err != nil {
			return nil, err
		}
	}
	w.sort()
	in.Lists = nil // decoded; not kept for the configuration's lifetime
	w.signed = &in
	c.Watchlists, c.Screening = w, w.Index()
	return c, nil
}

// loadLocal reads the risk document and the watchlists as they are, for a
// device whose configuration central did not sign.
func (d Device) loadLocal(ctx context.Context, last *Config) (*Config, error) {
	// The risk document's version is in the configuration state
	// (agent.InstalledRiskVersion).
	c := &Config{riskStamp: stamp(filepath.Join(d.ConfigDir(), riskFile), filepath.Join(d.ConfigDir(), agent.ConfigFile)),
		listStamp: stamp(d.WatchlistDirs()...)}
	if last != nil && last.riskStamp == c.riskStamp && last.Source != SourceCentral {
		c.Risk = last.Risk
	} else {
		var prev *Risk
		if last != nil && last.Source != SourceCentral {
			prev = &last.Risk
		}
		c.Risk = LoadRisk(d.ConfigDir(), prev)
	}
	if last != nil && last.listStamp == c.listStamp && last.Watchlists.signed == nil {
		c.Watchlists, c.Screening = last.Watchlists, last.Screening
		c.Watchlists.unverified = false // the caller says
		return c, nil
	}
	w, err := LoadWatchlists(ctx, d.WatchlistDirs()...)
	if err != nil {
		return nil, err
	}
	c.Watchlists, c.Screening = w, w.Index()
	return c, nil
}

// pinStamp is the part of Load's stamp that the vault's pin is: a pin
// changed (the device enrolled again, a sync recorded a newer
// configuration) loads again.
// fileExists reports whether path names something that can be statted.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func pinStamp(pin vault.Pin, pinned bool) string {
	if !pinned {
		return ""
	}
	b, _ := json.Marshal(pin) // a struct of plain fields: never fails
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// stamp sums the name, size and modification time of each path and, for
// a folder, of each file in it: files are replaced by rename, so any
// change shows.
func stamp(paths ...string) string {
	h := sha256.New()
	var add func(p string, deep bool)
	add = func(p string, deep bool) {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(h, "%s\x00-\n", p)
			return
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\n", p, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
		if fi.IsDir() && deep {
			ents, _ := os.ReadDir(p)
			for _, e := range ents {
				add(filepath.Join(p, e.Name()), false)
			}
		}
	}
	for _, p := range paths {
		add(p, true)
	}
	return hex.EncodeToString(h.Sum(nil))
}
