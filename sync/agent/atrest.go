package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/protocol"
)

// ErrConfigAltered means the configuration installed in a folder is not
// what central signed: its state file, a watchlist or a file beside them
// was changed, added or removed after sync wrote it, or it is signed by a
// key other than the one pinned at enrolment. Nothing in it is used.
var ErrConfigAltered = errors.New("the configuration on this device is not what central signed (it was changed on disk): sync again to reinstall it, and enrol the device again if this persists")

// Trust says how far the configuration installed in a folder is central's.
type Trust string

const (
	// TrustNone: sync never installed a configuration.
	TrustNone Trust = "none"
	// TrustUnsigned: a configuration installed by a version that did not
	// keep central's signature; the next sync replaces it with a signed
	// one.
	TrustUnsigned Trust = "unsigned"
	// TrustSigned: central's signed bytes, verified with its pinned key.
	TrustSigned Trust = "signed"
)

// Installed is the configuration installed in a folder, as
// VerifyInstalled checked it.
type Installed struct {
	Trust Trust
	// Config is the configuration in force: risk version and document,
	// the watchlists installed, the challenge. When Trust is TrustSigned
	// each part is central's, byte for byte.
	Config protocol.Config
	// Confirmed maps each installed list to when central last confirmed
	// it (WatchlistsConfirmed), never later than the signed bundle's
	// IssuedAt when Trust is TrustSigned: the state file's times are the
	// device's own and only the bundle's date is central's.
	Confirmed map[string]time.Time
	// Missing are lists central's bundle names that the device does not
	// hold (their download failed): screening without them is of unknown
	// age.
	Missing []string
	// Lists maps each list file in the folder to the bytes checked
	// against central's signature (LoadInstalled only; nil otherwise).
	Lists map[string][]byte
}

// VerifyInstalled reads the configuration SyncConfig installed in dir and
// checks it against central's signature with pub, the key pinned at
// enrolment: the signed bundle, the risk document in force, and each
// watchlist file's size and SHA-256 against its signed descriptor. It
// reads every list file whole (hashing as it streams); a caller that
// screens with the lists takes their bytes from LoadInstalled rather
// than reading the files again. A configuration that does not verify is
// ErrConfigAltered; one installed before signatures were kept is
// TrustUnsigned, and none at all TrustNone.
func VerifyInstalled(dir string, pub ed25519.PublicKey) (Installed, error) {
	return verifyInstalled(dir, pub, false)
}

// LoadInstalled is VerifyInstalled keeping each list's bytes as they were
// checked (Installed.Lists) when the configuration is central's
// (TrustSigned), for the screening index to be built from: a list file
// read again after the check could have been replaced in between.
func LoadInstalled(dir string, pub ed25519.PublicKey) (Installed, error) {
	return verifyInstalled(dir, pub, true)
}

func verifyInstalled(dir string, pub ed25519.PublicKey, keep bool) (Installed, error) {
	st, err := loadState(dir)
	if err != nil {
		return Installed{}, fmt.Errorf("%w: %w", ErrConfigAltered, err)
	}
	in := Installed{Trust: TrustSigned, Config: st.Config, Confirmed: st.Confirmed}
	if st.Signed == nil {
		in.Trust = TrustUnsigned
		if st.Version == 0 && len(st.Risk) == 0 && len(st.Watchlists) == 0 && st.IssuedAt.IsZero() {
			in.Trust = TrustNone
		}
		return in, nil
	}
	altered := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfigAltered, fmt.Sprintf(format, a...))
	}
	signed, err := st.Signed.Open(pub)
	if err != nil {
		return Installed{}, altered("%s: central's bundle: %v", filepath.Join(dir, ConfigFile), err)
	}
	if !signed.IssuedAt.Equal(st.IssuedAt) || signed.Challenge != st.Challenge {
		return Installed{}, altered("%s: its date or challenge is not the signed bundle's", filepath.Join(dir, ConfigFile))
	}
	riskFrom := signed
	if st.RiskSigned != nil {
		if riskFrom, err = st.RiskSigned.Open(pub); err != nil {
			return Installed{}, altered("%s: the risk configuration's bundle: %v", filepath.Join(dir, ConfigFile), err)
		}
	}
	if riskFrom.Version != st.Version || !sameJSON(riskFrom.Risk, st.Risk) {
		return Installed{}, altered("%s: the risk configuration is not the one central signed", filepath.Join(dir, ConfigFile))
	}
	// Sync no longer writes a copy of the document beside the state: one
	// there was put by someone else.
	if _, err := os.Stat(filepath.Join(dir, RiskFile)); !errors.Is(err, fs.ErrNotExist) {
		return Installed{}, altered("%s is not central's (the risk configuration in force is in %s); remove it", filepath.Join(dir, RiskFile), ConfigFile)
	}
	if in.Lists, err = verifyLists(filepath.Join(dir, WatchlistDir), pub, st, keep); err != nil {
		return Installed{}, fmt.Errorf("%w: %w", ErrConfigAltered, err)
	}
	in.Confirmed = make(map[string]time.Time, len(st.Confirmed))
	for name, t := range st.Confirmed {
		if t.After(signed.IssuedAt) {
			t = signed.IssuedAt
		}
		in.Confirmed[name] = t
	}
	have := make(map[string]bool, len(st.Watchlists))
	for _, w := range st.Watchlists {
		have[w.Name] = true
	}
	for _, w := range signed.Watchlists {
		if !have[w.Name] {
			in.Missing = append(in.Missing, w.Name)
		}
	}
	return in, nil
}

// verifyLists checks that the folder holds exactly the lists st records
// installed, each signed by central and matching its descriptor. A list
// sync is installing (st.Pending) may already hold its new bytes. With
// keep it returns each file's bytes as checked.
func verifyLists(dir string, pub ed25519.PublicKey, st state, keep bool) (map[string][]byte, error) {
	may := make(map[string][]protocol.Watchlist, len(st.Watchlists))
	for _, w := range append(slices.Clone(st.Watchlists), st.Pending...) {
		may[w.Name] = append(may[w.Name], w)
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var kept map[string][]byte
	if keep {
		kept = make(map[string][]byte, len(ents))
	}
	found := map[string]bool{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue // a download under way
		}
		path := filepath.Join(dir, e.Name())
		ws, ok := may[e.Name()]
		if !ok {
			return nil, fmt.Errorf("%s: a list central did not send", path)
		}
		data, err := verifyList(path, pub, ws, keep)
		if err != nil {
			return nil, err
		}
		if keep {
			kept[e.Name()] = data
		}
		found[e.Name()] = true
	}
	for _, w := range st.Watchlists {
		if !found[w.Name] {
			return nil, fmt.Errorf("watchlist %s: missing", filepath.Join(dir, w.Name))
		}
	}
	return kept, nil
}

// verifyList checks the file at path against the descriptors it may
// match: signed by central, with its size and SHA-256. With keep it
// returns the bytes it checked (else streams them, never whole in memory).
// Only a regular file of at most protocol.MaxWatchlistSize is read: a
// FIFO put in a list's place would hold every load waiting for a writer.
func verifyList(path string, pub ed25519.PublicKey, ws []protocol.Watchlist, keep bool) ([]byte, error) {
	// Both errors below name path already (os.PathError, atomicfile's).
	f, err := atomicfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checking a watchlist: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	var data bytes.Buffer
	var dst io.Writer = h
	if keep {
		dst = io.MultiWriter(h, &data)
	}
	n, err := io.Copy(dst, io.LimitReader(f, protocol.MaxWatchlistSize+1))
	if err != nil {
		return nil, fmt.Errorf("checking a watchlist: %w", err)
	}
	sum := h.Sum(nil)
	for _, w := range ws {
		if protocol.VerifyWatchlist(pub, w) == nil && w.Size == n && bytes.Equal(w.SHA256, sum) {
			return data.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("watchlist %s: its %d bytes are not the version central signed", path, n)
}

// sameJSON reports whether a and b are the same JSON text but for white
// space (ConfigFile is indented, the documents in it with it).
func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}
