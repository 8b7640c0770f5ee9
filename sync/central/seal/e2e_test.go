package seal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// pg is the package's private PostgreSQL, started by TestMain.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// backend is a plain store and a way to read everything it holds on disk
// as an attacker with the files (bbolt) or a dump (PostgreSQL) would.
type backend struct {
	raw  central.Store
	dump func(t *testing.T) []byte
}

var backends = []struct {
	name string
	open func(t *testing.T) backend
}{
	{"bolt", func(t *testing.T) backend {
		path := filepath.Join(t.TempDir(), "central.db")
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return backend{raw: s, dump: func(t *testing.T) []byte {
			// bbolt writes each committed page to the file: reading it
			// while the store is open sees what a copy of the disk holds.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}}
	}},
	{"postgres", func(t *testing.T) backend {
		dsn, err := pg.NewDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return backend{raw: s, dump: func(t *testing.T) []byte {
			bin := os.Getenv(pgtest.BinEnv)
			if bin == "" {
				bin = "/usr/lib/postgresql/15/bin"
			}
			out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--dbname", dsn).Output()
			if err != nil {
				t.Fatalf("pg_dump: %v", err)
			}
			return out
		}}
	}},
}

// env is a real central (TLS on loopback, production handlers) over a
// sealed store, with an enrolled device.
type env struct {
	backend
	kr       *seal.FileKeyring
	store    *seal.Store
	clock    *synctest.Clock
	c        *synctest.Central
	id       *identity.Identity
	uploader *agent.Uploader
}

func start(t *testing.T, open func(t *testing.T) backend) *env {
	t.Helper()
	b := open(t)
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{backend: b, kr: kr, store: seal.New(b.raw, kr, kr), clock: synctest.NewClock(time.Now())}
	e.c = synctest.StartCentral(t, e.store, synctest.CentralOptions{Now: e.clock.Now})
	var enr identity.Enrollment
	e.id, enr = e.c.Enroll(t)
	if e.uploader, err = agent.NewUploader(agent.Config{Identity: e.id, Enrollment: enr}); err != nil {
		t.Fatal(err)
	}
	return e
}

// person is someone whose KTP a device verified.
type person struct {
	nik, name, docNumber string
}

var (
	siti = person{nik: "3174096112900001", name: "SITI NURHALIZA BINTI AHMAD", docNumber: "3174096112900001"}
	budi = person{nik: "3201015505850002", name: "BUDI SANTOSO", docNumber: "3201015505850002"}
)

// testJPEG encodes a real JPEG (noise, so it does not compress away).
func testJPEG(t *testing.T, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.UintN(256))
	}
	img.Set(0, 0, color.Black)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte{0xFF, 0xD8, 0xFF}) {
		t.Fatal("encoder wrote no JPEG magic")
	}
	return buf.Bytes()
}

// submit sends submission n about p, shaped like the app's payload (the
// engine's report with the document's fields) around synctest's signed
// attestation, with two real JPEGs.
func (e *env) submit(t *testing.T, n int, p person) vault.Submission {
	t.Helper()
	s := synctest.Submission(t, e.id, n, 0)
	var flat map[string]any
	if err := json.Unmarshal(s.Payload, &flat); err != nil {
		t.Fatal(err)
	}
	field := func(v string) map[string]any {
		return map[string]any{"value": v, "source": "visual", "confidence": 0.97}
	}
	payload := map[string]any{
		"session_id": fmt.Sprintf("sess-%d", n), "attempt": 1, "operator": "op-1", "doc_type": "ktp", "country": "IDN", "app_version": "1.0",
		"report": map[string]any{
			// An approval in the default approve band: one below it is
			// routed to review and audited by central (decisioncheck.go).
			"decision": "approve", "score": 92.5, "next_action": "proceed",
			"reasons": []map[string]any{{"code": "screening_clear", "detail": "no watchlist entry for " + p.name}},
			"document": map[string]any{
				"type":   "ktp",
				"fields": map[string]any{"nik": field(p.nik), "name": field(p.name), "birth_place": field("JAKARTA"), "address": field("JL. MERDEKA 17")},
				"nik":    map[string]any{"number": p.nik, "valid": true, "birth_date": "1990-12-21"},
			},
			"screening": map[string]any{"screened": true, "name": p.name, "hits": []any{}},
		},
		"attestation": flat["attestation"],
	}
	var err error
	if s.Payload, err = json.Marshal(payload); err != nil {
		t.Fatal(err)
	}
	s.Images = map[string][]byte{"selfie": testJPEG(t, uint64(2*n)), "front": testJPEG(t, uint64(2*n+1))}
	if err := e.uploader.Upload(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// findLeaks reports which needles a dump holds: as they are, in hex (how
// pg_dump writes bytea), in base64 (how JSON records hold bytes), in any
// case.
func findLeaks(dump []byte, needles map[string][]byte) []string {
	lower := bytes.ToLower(dump)
	var out []string
	for name, n := range needles {
		for _, form := range [][]byte{n, []byte(hex.EncodeToString(n)), []byte(base64.StdEncoding.EncodeToString(n)), []byte(base64.RawURLEncoding.EncodeToString(n))} {
			if bytes.Contains(lower, bytes.ToLower(form)) || bytes.Contains(dump, form) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// personalNeedles is what must never be readable at rest: the person's
// identifiers, the JPEG magic with the bytes after it, image hashes.
func personalNeedles(p person, s vault.Submission) map[string][]byte {
	surname := p.name[strings.LastIndex(p.name, " ")+1:]
	n := map[string][]byte{"nik": []byte(p.nik), "name": []byte(p.name), "surname": []byte(surname), "address": []byte("JL. MERDEKA")}
	for name, img := range s.Images {
		// FF D8 FF alone turns up by chance about once per 16 MB of
		// random ciphertext; with the next 13 bytes of the file it cannot.
		n["jpeg "+name] = img[:16]
		n["jpeg interior "+name] = img[len(img)/2 : len(img)/2+32]
		sum := sha256.Sum256(img)
		n["sha256 "+name] = sum[:]
	}
	return n
}

func (e *env) adminGet(t *testing.T, path string, out any) int {
	t.Helper()
	return e.c.Admin(t, http.MethodGet, path, nil, out)
}

// search posts a search by a person's identifiers (the only way: a GET
// refuses them in its URL).
func (e *env) search(t *testing.T, req central.SearchRequest, out any) int {
	t.Helper()
	body, _ := json.Marshal(req)
	return e.c.Admin(t, http.MethodPost, "/admin/v1/submissions/search", body, out)
}

// erase asks for an erasure: a dry run answers 200, an erasure 202 with
// its record, done already (central runs here without a job queue).
func (e *env) erase(t *testing.T, req central.ErasureRequest) central.Erasure {
	t.Helper()
	body, _ := json.Marshal(req)
	var res central.Erasure
	want := http.StatusAccepted
	if req.DryRun {
		want = http.StatusOK
	}
	if code := e.c.Admin(t, http.MethodPost, "/admin/v1/erasures", body, &res); code != want {
		t.Fatalf("erasure: status %d, want %d", code, want)
	}
	if res.Status != central.ErasureDone {
		t.Fatalf("erasure: %+v, want done", res)
	}
	return res
}

// TestNothingPersonalAtRest sends real submissions through a real central
// (the agent, TLS, the production handlers) into a sealed store, and
// reads the store's file and a pg_dump as someone who stole them would:
// no NIK, name, address, JPEG or image hash in any form. The admin API
// reads them back intact, and finds them by NIK, document number and name.
func TestNothingPersonalAtRest(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b.open)
			s := e.submit(t, 1, siti)
			e.submit(t, 2, budi)
			if l := findLeaks(e.dump(t), personalNeedles(siti, s)); len(l) > 0 {
				t.Errorf("the store on disk holds in clear: %v", l)
			}
			var det central.SubmissionDetail
			if code := e.adminGet(t, "/admin/v1/devices/"+e.id.DeviceID()+"/submissions/"+s.ID, &det); code != http.StatusOK {
				t.Fatalf("reading the submission: status %d", code)
			}
			if !bytes.Equal(det.Payload, s.Payload) || det.ID != s.ID {
				t.Errorf("payload read back = %s, want the one sent", det.Payload)
			}
			for name, img := range s.Images {
				if !bytes.Equal(det.ImageData[name], img) {
					t.Errorf("image %s read back: %d bytes, want the %d sent", name, len(det.ImageData[name]), len(img))
				}
			}
			for _, q := range []central.SearchRequest{{NIK: "3174-0961-1290-0001"}, {DocumentNumber: "3174096112900001"}, {Name: "Siti Nurhaliza binti Ahmád"}, {NIK: siti.nik, Name: "siti nurhaliza binti ahmad"}} {
				var found []central.Submission
				if code := e.search(t, q, &found); code != http.StatusOK {
					t.Fatalf("search %+v: status %d", q, code)
				}
				if len(found) != 1 || found[0].ID != s.ID || found[0].Payload != nil {
					t.Errorf("search %+v = %+v, want %s without its payload", q, found, s.ID)
				}
			}
		})
	}
}

// TestErasure erases a person through the admin API by NIK: their
// submission is gone from the API and from the store (its ciphertext and
// wrapped data key, in a pg_dump; in the bbolt file, whatever free page
// still holds them cannot be opened once rotation retires the KEK), the
// other person's stays, and the audit trail records the erasure without
// the NIK, the name or the submission.
func TestErasure(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := start(t, b.open)
			s := e.submit(t, 1, siti)
			other := e.submit(t, 2, budi)
			key := protocol.SubmissionKey(s.ID)
			stored, err := e.raw.Upload(ctx, e.id.DeviceID(), key)
			if err != nil {
				t.Fatal(err)
			}
			if res := e.erase(t, central.ErasureRequest{NIK: siti.nik, DryRun: true}); res.Erased != 1 {
				t.Errorf("dry run = %+v, want 1", res)
			}
			res := e.erase(t, central.ErasureRequest{NIK: "3174 0961 1290 0001"})
			if res.Erased != 1 || res.ID == "" {
				t.Fatalf("erasure = %+v, want 1 erased", res)
			}
			if code := e.adminGet(t, "/admin/v1/devices/"+e.id.DeviceID()+"/submissions/"+s.ID, nil); code != http.StatusNotFound {
				t.Errorf("erased submission through the API: status %d, want 404", code)
			}
			var found []central.Submission
			if e.search(t, central.SearchRequest{NIK: siti.nik}, &found); len(found) != 0 {
				t.Errorf("search after erasure found %+v", found)
			}
			var det central.SubmissionDetail
			if code := e.adminGet(t, "/admin/v1/devices/"+e.id.DeviceID()+"/submissions/"+other.ID, &det); code != http.StatusOK || !bytes.Equal(det.Payload, other.Payload) {
				t.Errorf("the other person's submission after erasure: status %d", code)
			}
			// The bytes: the wrapped data key and the ciphertext are no
			// longer in the store's live data.
			gone := map[string][]byte{"wrapped data key": stored.Seal.Key, "payload ciphertext": stored.Payload[:64]}
			// bbolt keeps a freed page's old bytes until it reuses the
			// page, so only PostgreSQL's dump must have lost them at once;
			// for both, the rotation below makes any copy useless.
			if l := findLeaks(e.dump(t), gone); len(l) > 0 && b.name == "postgres" {
				t.Errorf("pg_dump after erasure still holds the %v", l)
			}
			if _, err := e.raw.Upload(ctx, e.id.DeviceID(), key); err == nil {
				t.Error("the plain store still holds the erased submission")
			}
			// Rotation retires the KEK that wrapped it: a copy left in a
			// free page, a WAL segment or a backup no longer opens.
			if _, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.kr.Unwrap(ctx, stored.Seal.KeyID, stored.Seal.Key, nil); err == nil {
				t.Error("the erased submission's wrapped data key still unwraps after rotation")
			}
			if l := findLeaks(e.dump(t), personalNeedles(siti, s)); len(l) > 0 {
				t.Errorf("the store on disk holds in clear after erasure: %v", l)
			}
			var evs []central.AuditEvent
			if code := e.adminGet(t, "/admin/v1/audit?action=erasure", &evs); code != http.StatusOK {
				t.Fatalf("audit: status %d", code)
			}
			if len(evs) != 1 || evs[0].Count != 1 || evs[0].ID != res.ID || !strings.HasPrefix(evs[0].Actor, "admin:") {
				t.Errorf("audit = %+v, want the one erasure of 1 submission by the admin", evs)
			}
			all, _ := json.Marshal(evs)
			var everything []central.AuditEvent
			e.adminGet(t, "/admin/v1/audit", &everything)
			more, _ := json.Marshal(everything)
			all = append(all, more...)
			forbidden := map[string][]byte{"nik": []byte(siti.nik), "name": []byte("NURHALIZA"), "submission id": []byte(s.ID), "submission key": []byte(key)}
			if l := findLeaks(all, forbidden); len(l) > 0 {
				t.Errorf("the audit trail names what was erased: %v in %s", l, all)
			}
			if m := e.c.Metrics(t); !strings.Contains(m, "kyc_central_erasures_total 1") || !strings.Contains(m, "kyc_central_erased_submissions_total 1") {
				t.Errorf("metrics lack the erasure counts:\n%s", grepLines(m, "erase"))
			}
		})
	}
}

// TestRetentionSweep: past their retention, images go and the decision
// stays; later the extracted fields go and still the decision stays.
func TestRetentionSweep(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := start(t, b.open)
			s := e.submit(t, 1, siti)
			pol := central.RetentionPolicy{ImagesDays: 30, FieldsDays: 365, DecisionDays: 3650, AuditDays: 3650}
			body, _ := json.Marshal(pol)
			if code := e.c.Admin(t, http.MethodPut, "/admin/v1/retention", body, nil); code != http.StatusOK {
				t.Fatalf("setting the retention policy: status %d", code)
			}
			var got central.RetentionPolicy
			if e.adminGet(t, "/admin/v1/retention", &got); got != pol {
				t.Errorf("retention policy read back %+v, want %+v", got, pol)
			}
			key := protocol.SubmissionKey(s.ID)
			path := "/admin/v1/devices/" + e.id.DeviceID() + "/submissions/" + s.ID
			read := func() central.SubmissionDetail {
				t.Helper()
				var det central.SubmissionDetail
				if code := e.adminGet(t, path, &det); code != http.StatusOK {
					t.Fatalf("reading the submission: status %d", code)
				}
				return det
			}
			wantDecision := func(det central.SubmissionDetail) {
				t.Helper()
				var d struct {
					Report struct {
						Decision string   `json:"decision"`
						Reasons  []string `json:"reasons"`
					} `json:"report"`
				}
				if err := json.Unmarshal(det.Decision, &d); err != nil || d.Report.Decision != "approve" || len(d.Report.Reasons) != 1 || d.Report.Reasons[0] != "screening_clear" {
					t.Errorf("decision = %s (%v), want approve with its reason code", det.Decision, err)
				}
				if l := findLeaks(det.Decision, map[string][]byte{"nik": []byte(siti.nik), "name": []byte("NURHALIZA")}); len(l) > 0 {
					t.Errorf("the decision kept holds %v", l)
				}
			}

			e.clock.Advance(29 * 24 * time.Hour)
			if res, err := e.c.Server.Sweep(ctx); err != nil || res.Counts[central.ExpireImages] != 0 {
				t.Errorf("sweep within the retention = %+v, %v; want nothing removed", res, err)
			}
			if det := read(); len(det.ImageData) != 2 {
				t.Errorf("images gone before their retention ended: %d left", len(det.ImageData))
			}
			e.clock.Advance(2 * 24 * time.Hour)
			res, err := e.c.Server.Sweep(ctx)
			if err != nil || res.Counts[central.ExpireImages] != 1 || res.Counts[central.ExpireFields] != 0 {
				t.Fatalf("sweep after 31 days = %+v, %v; want the images of 1 submission", res, err)
			}
			det := read()
			if len(det.Images) != 0 || len(det.ImageData) != 0 || det.ImagesErasedAt.IsZero() || !bytes.Equal(det.Payload, s.Payload) {
				t.Errorf("after the images' retention: %d images, erased at %v, payload kept %v", len(det.ImageData), det.ImagesErasedAt, bytes.Equal(det.Payload, s.Payload))
			}
			wantDecision(det)
			if _, err := e.raw.ImageData(ctx, e.id.DeviceID(), key, "selfie"); err == nil {
				t.Error("the store still holds the expired image's chunks")
			}

			e.clock.Advance(335 * 24 * time.Hour)
			res, err = e.c.Server.Sweep(ctx)
			if err != nil || res.Counts[central.ExpireFields] != 1 {
				t.Fatalf("sweep after 366 days = %+v, %v; want the fields of 1 submission", res, err)
			}
			det = read()
			if det.Payload != nil || det.FieldsErasedAt.IsZero() || det.ID != s.ID {
				t.Errorf("after the fields' retention: payload %s, erased at %v", det.Payload, det.FieldsErasedAt)
			}
			wantDecision(det)
			if l := findLeaks(e.dump(t), personalNeedles(siti, s)); len(l) > 0 {
				t.Errorf("the store on disk holds in clear: %v", l)
			}

			var evs []central.AuditEvent
			e.adminGet(t, "/admin/v1/audit?action="+central.AuditSweep, &evs)
			if len(evs) != 2 || evs[0].Count != 1 || evs[1].Count != 1 || evs[0].Actor != "retention" {
				t.Errorf("audit of sweeps = %+v, want two sweeps of one submission each", evs)
			}
			if m := e.c.Metrics(t); !strings.Contains(m, `kyc_central_retention_expired_total{kind="images"} 1`) || !strings.Contains(m, `kyc_central_retention_expired_total{kind="fields"} 1`) {
				t.Errorf("metrics lack the sweep counts:\n%s", grepLines(m, "retention"))
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPlainStoreLeaks is the control of TestNothingPersonalAtRest: the
// same submission through a central whose store is not sealed leaves the
// NIK, the name and the JPEGs readable in the file and the dump, so the
// search above would see them.
func TestPlainStoreLeaks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			bk := b.open(t)
			e := &env{backend: bk, clock: synctest.NewClock(time.Now())}
			e.c = synctest.StartCentral(t, bk.raw, synctest.CentralOptions{})
			var enr identity.Enrollment
			e.id, enr = e.c.Enroll(t)
			var err error
			if e.uploader, err = agent.NewUploader(agent.Config{Identity: e.id, Enrollment: enr}); err != nil {
				t.Fatal(err)
			}
			s := e.submit(t, 1, siti)
			leaked := findLeaks(e.dump(t), personalNeedles(siti, s))
			for _, want := range []string{"nik", "name", "jpeg selfie", "jpeg front"} {
				if !slices.Contains(leaked, want) {
					t.Errorf("a plain store did not show the %s: the leak check would miss it (found %v)", want, leaked)
				}
			}
		})
	}
}
