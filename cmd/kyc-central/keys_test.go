package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/protocol"
)

// openSealed opens the store file of the data folder data, and that store
// sealed with the folder's keyring (made if there is none), as serve does.
// Closing the sealed store closes the file.
func openSealed(t *testing.T, data string) (*boltstore.Store, central.Store) {
	t.Helper()
	raw, err := boltstore.Open(filepath.Join(data, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sealed(context.Background(), raw, "", data)
	if err != nil {
		t.Fatal(err)
	}
	return raw, store
}

// TestKeysRotate rotates the keyring of a bbolt data directory as an
// operator would: every data key moves to the new KEK, the old one is
// retired, and the submission still reads back, images included.
func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	_, store := openSealed(t, data)
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 1000)
	sum := sha256.Sum256(img)
	sub := central.Submission{
		DeviceID: "d1", Key: protocol.SubmissionKey("s1"), ID: "s1", ManifestHash: []byte("m"), ReceivedAt: time.Now().UTC(),
		Payload: json.RawMessage(`{"nik":"3174096112900001"}`),
		Images:  []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "selfie", Size: int64(len(img)), SHA256: sum[:], Key: make([]byte, 32)}}},
	}
	if _, _, err := store.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AppendChunk(ctx, central.Chunk{DeviceID: "d1", Key: sub.Key, Image: "selfie", Data: img, At: sub.ReceivedAt}); err != nil {
		t.Fatal(err)
	}
	// A person capturing on their phone during the rotation.
	capKey := central.HostedSessionKey("pa", "s9", "selfie")
	if err := store.(central.HostedStates).PutHostedState(ctx, capKey, []byte("a face"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	type status struct {
		Current string         `json:"current"`
		KEKs    []string       `json:"keks"`
		Usage   map[string]int `json:"data_keys_by_kek"`
		Hosted  map[string]int `json:"hosted_values_by_kek"`
	}
	keysStatus := func() status {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(ctx, []string{"keys", "status", "--data", data}, &out, &errOut); code != 0 {
			t.Fatalf("keys status = %d: %s", code, errOut.String())
		}
		var st status
		if err := json.Unmarshal(out.Bytes(), &st); err != nil {
			t.Fatalf("keys status answered %q: %v", out.String(), err)
		}
		return st
	}
	before := keysStatus()
	if len(before.KEKs) != 1 || before.Usage[before.Current] != 1 || before.Hosted[before.Current] != 1 {
		t.Fatalf("status before = %+v", before)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"keys", "rotate", "--data", data}, &out, &errOut); code != 0 {
		t.Fatalf("keys rotate = %d: %s", code, errOut.String())
	}
	var res seal.RotateResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Rewrapped != 1 || res.RewrappedHosted != 1 || len(res.Retired) != 1 || res.Retired[0] != before.Current {
		t.Fatalf("keys rotate answered %q (%v)", out.String(), err)
	}
	after := keysStatus()
	if after.Current != res.KeyID || len(after.KEKs) != 1 || after.Usage[res.KeyID] != 1 || after.Hosted[res.KeyID] != 1 {
		t.Errorf("status after = %+v, want one KEK %s wrapping the one data key", after, res.KeyID)
	}

	raw, store := openSealed(t, data)
	defer raw.Close()
	got, err := store.ImageData(ctx, "d1", sub.Key, "selfie")
	if err != nil || !bytes.Equal(got, img) {
		t.Errorf("image after rotation = %d bytes, %v", len(got), err)
	}
	if got, err := store.(central.HostedStates).HostedState(ctx, capKey, time.Now()); err != nil || string(got) != "a face" {
		t.Errorf("hosted capture after rotation = %q, %v", got, err)
	}
	evs, err := raw.Audit(ctx, central.AuditFilter{Action: "key_rotation"})
	if err != nil || len(evs) != 1 || evs[0].Count != 1 {
		t.Errorf("audit of the rotation = %+v, %v", evs, err)
	}
	if code := run(ctx, []string{"keys"}, &out, &errOut); code == 0 {
		t.Error("keys without a subcommand succeeded")
	}
}

// TestServeSealsStoredUsers: serve seals, before it listens, a partner's
// user reference that a release before sealing stored clear, and says so;
// it still reads back.
func TestServeSealsStoredUsers(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(data, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	const user = "old.clear@example.com"
	f := central.FlowSession{ID: "s1", PartnerID: "pa", UserID: user, UserIDType: "email", Status: central.FlowCreated,
		CreatedAt: time.Now(), UpdatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	var logs syncBuf
	go func() {
		done <- run(sctx, []string{"serve", "--addr", addr, "--data", data, "--insecure-http"}, &bytes.Buffer{}, &logs)
	}()
	waitServing(t, &logs, func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d: %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"sealed the partners' user references stored clear","records":1`) {
		t.Errorf("serve's log does not say it sealed one record: %s", logs.String())
	}

	st, err = boltstore.Open(filepath.Join(data, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Flow(ctx, "pa", "s1"); err != nil || strings.Contains(got.UserID, user) {
		t.Errorf("stored user reference = %q, %v; want it sealed", got.UserID, err)
	}
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(data, keyringName))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := seal.New(st, kr, kr).Flow(ctx, "pa", "s1"); err != nil || got.UserID != user {
		t.Errorf("Flow = user %q, %v; want %q", got.UserID, err, user)
	}
}

// TestServeRefusesAnotherCentralsStore: a store whose sealed data the
// keyring cannot open (another central's, restored beside this keyring,
// or its keyring lost) is refused at start, saying why, rather than
// served to fail at each read; restore refuses such a copy too, and a
// copy without its keyring in place. A store holding no submission yet,
// only a partner's session sealed under the keyring, is refused as well
// (its key check, written at its first start).
func TestServeRefusesAnotherCentralsStore(t *testing.T) {
	cases := []struct {
		name  string
		write func(ctx context.Context, st central.Store) error
	}{
		{"submission", func(ctx context.Context, st central.Store) error {
			sub := central.Submission{DeviceID: "d1", Key: protocol.SubmissionKey("s1"), ID: "s1", ManifestHash: []byte("m"), ReceivedAt: time.Now().UTC(),
				Payload: json.RawMessage(`{"nik":"3174096112900001"}`)}
			_, _, err := st.BeginSubmission(ctx, sub)
			return err
		}},
		{"partner session only", func(ctx context.Context, st central.Store) error {
			return st.CreateFlow(ctx, central.FlowSession{ID: "s1", PartnerID: "pa", UserID: "someone@example.com", UserIDType: "email",
				Status: central.FlowCreated, CreatedAt: time.Now(), UpdatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			data := t.TempDir()
			_, store := openSealed(t, data)
			if err := tc.write(ctx, store); err != nil {
				t.Fatal(err)
			}
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			copyFile := filepath.Join(t.TempDir(), "copy.db")
			var out, errOut bytes.Buffer
			if code := run(ctx, []string{"backup", "--data", data, "--out", copyFile}, &out, &errOut); code != 0 {
				t.Fatalf("backup: exit %d: %s", code, errOut.String())
			}
			// Another machine: its own keyring, or none yet.
			elsewhere := t.TempDir()
			errOut.Reset()
			if code := run(ctx, []string{"restore", "--from", copyFile, "--data", elsewhere}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "put the data folder's key files back first") {
				t.Errorf("restore without a keyring: exit %d: %s", code, errOut.String())
			}
			if _, err := seal.LoadOrCreateKeyring(filepath.Join(elsewhere, keyringName)); err != nil {
				t.Fatal(err)
			}
			errOut.Reset()
			if code := run(ctx, []string{"restore", "--from", copyFile, "--data", elsewhere}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), seal.ErrForeignKeys.Error()) {
				t.Errorf("restore beside another keyring: exit %d: %s", code, errOut.String())
			}
			if _, err := os.Stat(filepath.Join(elsewhere, "central.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused restore left a store: %v", err)
			}
			// The file put there by hand all the same: serve refuses it.
			b, err := os.ReadFile(copyFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(elsewhere, "central.db"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, time.Minute) // a refusal gone missing serves until this ends
			defer cancel()
			errOut.Reset()
			if code := run(sctx, []string{"serve", "--addr", "127.0.0.1:0", "--insecure-http", "--data", elsewhere}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), seal.ErrForeignKeys.Error()) {
				t.Errorf("serve on another central's store: exit %d: %s", code, errOut.String())
			}
			// Beside its own keyring the copy restores.
			errOut.Reset()
			if code := run(ctx, []string{"restore", "--from", copyFile, "--data", data, "--replace"}, &out, &errOut); code != 0 {
				t.Errorf("restore beside its keyring: exit %d: %s", code, errOut.String())
			}
		})
	}
}

// TestKeysCheckRepair: a store whose key check record was damaged is
// refused by serve, naming the repair; `keys check` says the same, and
// `keys check --repair` rebuilds the record from the data, after which the
// store is served again and the repair is in the audit trail.
func TestKeysCheckRepair(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	raw, store := openSealed(t, data)
	sub := central.Submission{
		DeviceID: "d1", Key: protocol.SubmissionKey("s1"), ID: "s1", ManifestHash: []byte("m"), ReceivedAt: time.Now().UTC(),
		Payload: json.RawMessage(`{"nik":"3174096112900001"}`),
	}
	if _, _, err := store.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	old, err := raw.KeyCheck(ctx)
	if err != nil || old == nil {
		t.Fatalf("KeyCheck = %q, %v", old, err)
	}
	if ok, err := raw.SwapKeyCheck(ctx, old, []byte(`{"format":"openkyc-central-key-check-v1","kek_id":"x"`)); err != nil || !ok {
		t.Fatalf("damaging the record: %v, %v", ok, err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	keysRun := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"keys"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := keysRun("check", "--data", data); code == 0 || !strings.Contains(errOut, seal.ErrBadKeyCheck.Error()) || !strings.Contains(errOut, "keys check --repair") {
		t.Fatalf("keys check of a damaged record = %d, %q; want a failure naming the repair", code, errOut)
	}
	code, out, errOut := keysRun("check", "--repair", "--data", data)
	if code != 0 || !strings.Contains(out, `"repaired": true`) {
		t.Fatalf("keys check --repair = %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := keysRun("check", "--data", data); code != 0 || !strings.Contains(out, `"repaired": false`) {
		t.Fatalf("keys check after the repair = %d, %q, %q", code, out, errOut)
	}
	raw, store = openSealed(t, data)
	defer raw.Close()
	if _, err := store.Upload(ctx, "d1", sub.Key); err != nil {
		t.Errorf("reading the submission after the repair: %v", err)
	}
	evs, err := raw.Audit(ctx, central.AuditFilter{Action: "key_check_repaired"})
	if err != nil || len(evs) != 1 {
		t.Errorf("audit of the repair = %+v, %v", evs, err)
	}
}
