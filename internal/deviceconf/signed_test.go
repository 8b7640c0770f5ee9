package deviceconf

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// signedRig is an enrolled device (a real device folder) and the real
// central (TLS on loopback) it syncs its configuration from.
type signedRig struct {
	c   *centraltest.Central
	dev Device
	up  *agent.Uploader
	enr identity.Enrollment
}

func newSignedRig(t *testing.T) *signedRig {
	t.Helper()
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{AdminTokenOwner: "token-owner"})
	c.Serve(t)
	ctx := context.Background()
	tok, err := c.Server.CreateEnrollToken(ctx, "test", "branch-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	dev := testDevice(t)
	dev.LocalWatchlists = filepath.Join(t.TempDir(), "local")
	if err := os.MkdirAll(dev.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := identity.LoadOrCreate(dev.DeviceKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	enr, err := identity.EnrollWithCA(ctx, ca, c.Base, tok.Token, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.SaveEnrollment(dev.EnrollmentPath(), enr); err != nil {
		t.Fatal(err)
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		t.Fatal(err)
	}
	return &signedRig{c: c, dev: dev, up: up, enr: enr}
}

// admin sends an admin API request to central.
func (r *signedRig) admin(t *testing.T, method, path string, body []byte, out any) {
	t.Helper()
	req, err := http.NewRequest(method, r.c.Base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.c.Admin)
	resp, err := (&http.Client{Transport: r.c.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// publish puts a risk configuration and a watchlist of the given people
// on central (each proposed, then confirmed by a second admin, when four
// eyes apply).
func (r *signedRig) publish(t *testing.T, riskDoc string, list string, people ...string) {
	t.Helper()
	var p central.RiskProposal
	r.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(riskDoc), &p)
	if _, err := r.c.Server.ConfirmRisk(context.Background(), "user:second-admin", p.ID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	putList(t, dir, list, "1", people...)
	b, err := os.ReadFile(filepath.Join(dir, list+listSuffix))
	if err != nil {
		t.Fatal(err)
	}
	// A new version of a published list is a proposal (it has an id),
	// which a second admin confirms.
	var wp central.WatchlistProposal
	r.admin(t, http.MethodPut, "/admin/v1/watchlists/"+list+listSuffix, b, &wp)
	if wp.ID == "" {
		return
	}
	if _, err := r.c.Server.ConfirmWatchlist(context.Background(), "user:second-admin", list+listSuffix, wp.ID); err != nil {
		t.Fatal(err)
	}
}

func (r *signedRig) sync(t *testing.T) {
	t.Helper()
	if _, err := agent.SyncConfig(context.Background(), r.up, r.dev.ConfigDir()); err != nil {
		t.Fatal(err)
	}
}

const centralRisk = `{"thresholds":{"face_liveness_min":0.7}}`

// TestSignedConfigRefusedWhenChangedOnDisk: on an enrolled device the
// configuration verifications decide with is central's, checked against
// its pinned key at every load: untouched it loads; a relaxed threshold,
// a replaced, dropped or added list, a risk document put beside it, or a
// bundle signed by another key is refused (never the defaults in its
// place), and a sync puts central's back.
func TestSignedConfigRefusedWhenChangedOnDisk(t *testing.T) {
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	r.sync(t)
	ctx := context.Background()
	c, err := r.dev.Load(ctx, nil, nil)
	if err != nil {
		t.Fatalf("central's configuration as synced: %v", err)
	}
	if c.Source != SourceCentral || c.Risk.Config.Thresholds.FaceLivenessMin != 0.7 || c.Risk.Version == nil || *c.Risk.Version != 1 {
		t.Fatalf("loaded %s, liveness at %v, version %v; want central's signed version 1", c.Source, c.Risk.Config.Thresholds.FaceLivenessMin, c.Risk.Version)
	}
	if got := flags(t, c.Screening, "Ivan Petrovich Sidorov"); !slices.Equal(got, []string{"ofac"}) {
		t.Fatalf("central's list: flagged by %v", got)
	}
	if c2, err := r.dev.Load(ctx, c, nil); err != nil || c2 != c {
		t.Errorf("unchanged on disk: %v, read again: %v", err, c2 != c)
	}

	cfgFile := filepath.Join(r.dev.ConfigDir(), agent.ConfigFile)
	listFile := filepath.Join(r.dev.SyncedWatchlists(), "ofac"+listSuffix)
	otherKey := func() {
		// The state as it is, its bundle signed by a key central never
		// had: the pinned key refuses it.
		var st map[string]json.RawMessage
		b, _ := os.ReadFile(cfgFile)
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		var signed struct{ Config []byte }
		if err := json.Unmarshal(st["signed"], &signed); err != nil {
			t.Fatal(err)
		}
		var pc protocol.Config
		if err := json.Unmarshal(signed.Config, &pc); err != nil {
			t.Fatal(err)
		}
		_, key, _ := ed25519.GenerateKey(nil)
		sc, err := protocol.SignConfig(key, pc)
		if err != nil {
			t.Fatal(err)
		}
		st["signed"], _ = json.Marshal(map[string][]byte{"config": sc.Config, "signature": sc.Signature})
		b, _ = json.Marshal(st)
		writeFile(t, cfgFile, string(b))
	}
	for _, tt := range []struct {
		name  string
		alter func()
	}{
		{"liveness threshold relaxed", func() {
			b, _ := os.ReadFile(cfgFile)
			writeFile(t, cfgFile, string(bytes.Replace(b, []byte(`0.7`), []byte(`0.1`), 1)))
		}},
		{"risk document put beside", func() {
			writeFile(t, filepath.Join(r.dev.ConfigDir(), agent.RiskFile), `{"thresholds":{"face_liveness_min":0.1}}`)
		}},
		{"list replaced", func() {
			putList(t, r.dev.SyncedWatchlists(), "ofac", "1", "Someone Else Entirely")
		}},
		{"list dropped", func() {
			if err := os.Remove(listFile); err != nil {
				t.Fatal(err)
			}
		}},
		{"list added", func() { putList(t, r.dev.SyncedWatchlists(), "extra", "1", "Juan Carlos Ortega Ruiz") }},
		{"signed by another key", otherKey},
	} {
		tt.alter()
		if c, err := r.dev.Load(ctx, c, nil); !errors.Is(err, agent.ErrConfigAltered) || c != nil {
			t.Errorf("%s: Load = %v, %v; want ErrConfigAltered and no configuration", tt.name, c, err)
		}
		if _, err := r.dev.Load(ctx, nil, nil); !errors.Is(err, agent.ErrConfigAltered) {
			t.Errorf("%s, nothing loaded before: %v; want ErrConfigAltered", tt.name, err)
		}
		// Sync puts central's back (a list added stays refused until it
		// is removed: sync removes what central did not send).
		os.Remove(filepath.Join(r.dev.ConfigDir(), agent.RiskFile))
		r.sync(t)
		c2, err := r.dev.Load(ctx, nil, nil)
		if err != nil {
			t.Fatalf("%s, synced again: %v", tt.name, err)
		}
		if l, got := c2.Risk.Config.Thresholds.FaceLivenessMin, flags(t, c2.Screening, "Ivan Petrovich Sidorov"); c2.Source != SourceCentral || l != 0.7 || !slices.Equal(got, []string{"ofac"}) {
			t.Fatalf("%s, synced again: %s, liveness at %v, flagged by %v; want central's", tt.name, c2.Source, l, got)
		}
		c = c2
	}
}

// TestSignedConfigListMissingIsStale: a list central's bundle names that
// the device does not hold (its download failed, or its record was taken
// out with the file) is screened as of unknown age, so a would-be
// approval goes to review.
func TestSignedConfigListMissingIsStale(t *testing.T) {
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	r.sync(t)
	cfgFile := filepath.Join(r.dev.ConfigDir(), agent.ConfigFile)
	var st map[string]json.RawMessage
	b, _ := os.ReadFile(cfgFile)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["watchlists"] = json.RawMessage(`[]`)
	b, _ = json.Marshal(st)
	writeFile(t, cfgFile, string(b))
	if err := os.Remove(filepath.Join(r.dev.SyncedWatchlists(), "ofac"+listSuffix)); err != nil {
		t.Fatal(err)
	}
	c, err := r.dev.Load(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	age := c.Risk.Config.ScreeningAge(*r.dev.ScreeningData(c.Watchlists, time.Now()))
	if !age.Stale || len(age.Lists) != 1 || age.Lists[0].Name != "ofac" || age.Lists[0].Known {
		t.Errorf("central's list missing: %+v; want it of unknown age, stale", age)
	}
}

// TestUnsignedConfigUpgrade: a device holding a configuration installed
// before the signature was kept (risk.json and a state without it) still
// decides with it, said to be unsigned, until its next sync installs the
// signed one: central's document, even where the unsigned copy claims
// central's version with other settings.
func TestUnsignedConfigUpgrade(t *testing.T) {
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	ctx := context.Background()
	if c, err := r.dev.Load(ctx, nil, nil); !errors.Is(err, ErrNotSynced) || c != nil {
		t.Fatalf("enrolled, never synced: %+v, %v; want ErrNotSynced, not the built-in defaults", c, err)
	}
	// What the earlier version's sync left, edited since.
	if err := os.MkdirAll(r.dev.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	const edited = `{"thresholds":{"face_liveness_min":0.2}}`
	b, _ := json.MarshalIndent(protocol.Config{Version: 1, Risk: json.RawMessage(edited), IssuedAt: time.Now()}, "", "  ")
	writeFile(t, filepath.Join(r.dev.ConfigDir(), agent.ConfigFile), string(b))
	writeFile(t, filepath.Join(r.dev.ConfigDir(), agent.RiskFile), edited)
	c, err := r.dev.Load(ctx, nil, nil)
	if err != nil || c.Source != SourceCentralUnsigned || c.Warning == "" || c.Risk.Config.Thresholds.FaceLivenessMin != 0.2 {
		t.Fatalf("an unsigned copy: %+v, %v; want it used, said to be unsigned", c, err)
	}
	// Nothing is approved on it: its screening is of unknown age.
	age := c.Risk.Config.ScreeningAge(*r.dev.ScreeningData(c.Watchlists, time.Now()))
	if !age.Stale || !strings.Contains(age.Problem, UnverifiedLists) {
		t.Errorf("screening on an unsigned copy: %+v; want it stale, of unknown age", age)
	}
	// The enrolment removed, the device stands alone: its own
	// configuration, the lists aged as they are.
	if err := os.Remove(r.dev.EnrollmentPath()); err != nil {
		t.Fatal(err)
	}
	alone, err := r.dev.Load(ctx, c, nil)
	if err != nil || alone.Source != SourceLocal {
		t.Fatalf("not enrolled any more: %+v, %v", alone, err)
	}
	if age := alone.Risk.Config.ScreeningAge(*r.dev.ScreeningData(alone.Watchlists, time.Now())); strings.Contains(age.Problem, UnverifiedLists) {
		t.Errorf("a device standing alone: %s; its lists are not central's to verify", age.Problem)
	}
	if err := identity.SaveEnrollment(r.dev.EnrollmentPath(), r.enr); err != nil {
		t.Fatal(err)
	}
	r.sync(t)
	if c, err = r.dev.Load(ctx, c, nil); err != nil || c.Source != SourceCentral || c.Warning != "" || c.Risk.Config.Thresholds.FaceLivenessMin != 0.7 {
		t.Fatalf("after the next sync: %+v, %v; want central's signed configuration", c, err)
	}
	if age := c.Risk.Config.ScreeningAge(*r.dev.ScreeningData(c.Watchlists, time.Now())); age.Stale {
		t.Errorf("screening on central's signed configuration, just synced: %s", age.Problem)
	}
	if _, err := os.Stat(filepath.Join(r.dev.ConfigDir(), agent.RiskFile)); err == nil {
		t.Error("the unsigned copy of the risk document stays beside the signed one")
	}
}

// TestLocalConfigNotEnrolled: a device not enrolled decides with what its
// administrator put there, said to be local and unsigned.
func TestLocalConfigNotEnrolled(t *testing.T) {
	d := testDevice(t)
	d.LocalWatchlists = filepath.Join(t.TempDir(), "local")
	if err := os.MkdirAll(d.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d.ConfigDir(), riskFile), `{"thresholds":{"face_liveness_min":0.6}}`)
	putList(t, d.LocalWatchlists, "pep", "7", "Siti Rahayu Lestari")
	c, err := d.Load(context.Background(), nil, nil)
	if err != nil || c.Source != SourceLocal || c.Risk.Config.Thresholds.FaceLivenessMin != 0.6 ||
		!slices.Equal(flags(t, c.Screening, "Siti Rahayu Lestari"), []string{"pep"}) {
		t.Fatalf("not enrolled: %+v, %v; want its own risk.json and lists", c, err)
	}
}

// TestSignedListsScreenedAsVerified: the lists screened are the bytes
// Load checked against central's signature, not the files read again
// afterwards, when one could have been swapped: Load opens each list
// file once, to check it. The kernel counts the opens (inotify), so Load
// needs no hook for the test.
func TestSignedListsScreenedAsVerified(t *testing.T) {
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	r.sync(t)
	file := "ofac" + listSuffix
	opened := watchOpens(t, r.dev.SyncedWatchlists())
	c, err := r.dev.Load(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("central's list as verified: %v", err)
	}
	if got := flags(t, c.Screening, "Ivan Petrovich Sidorov"); !slices.Equal(got, []string{"ofac"}) {
		t.Errorf("screening on central's list: flagged by %v, want ofac", got)
	}
	if n := opened(file); n != 1 {
		t.Errorf("Load opened %s %d times, want once: a file swapped in after the check would be read", file, n)
	}
}

// TestSignedListNotRegular: a FIFO in place of one of central's lists is
// an error at once, not a load waiting for a writer.
func TestSignedListNotRegular(t *testing.T) {
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	r.sync(t)
	path := filepath.Join(r.dev.SyncedWatchlists(), "ofac"+listSuffix)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := r.dev.Load(context.Background(), nil, nil); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, agent.ErrConfigAltered) || !errors.Is(err, atomicfile.ErrNotRegular) {
			t.Errorf("Load with a FIFO for a list = %v, want ErrConfigAltered and ErrNotRegular", err)
		}
	case <-time.After(time.Minute):
		// Unblocks the reader so the test can end.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("Load still blocked on a FIFO after a minute")
	}
}

// watchOpens counts, from now on, the opens of the files in dir as the
// kernel reports them; opened(name) takes in the events queued so far (an
// open's event is queued before the open returns) and says how many
// opens of name there were.
func watchOpens(t *testing.T, dir string) (opened func(name string) int) {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	buf := make([]byte, 64<<10)
	return func(name string) int {
		t.Helper()
		for {
			n, err := syscall.Read(fd, buf)
			if errors.Is(err, syscall.EAGAIN) {
				return counts[name]
			}
			if err != nil {
				t.Fatalf("reading inotify events: %v", err)
			}
			for ev := buf[:n]; len(ev) >= syscall.SizeofInotifyEvent; {
				// struct inotify_event: wd, mask, cookie, len, then name.
				end := syscall.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(ev[12:16]))
				counts[string(bytes.TrimRight(ev[syscall.SizeofInotifyEvent:end], "\x00"))]++
				ev = ev[end:]
			}
		}
	}
}
