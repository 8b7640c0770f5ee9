package hostedflow_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central/hostedflow"
)

// TestReferenceImage: a session with use_reference_image matches the
// selfie against the image the partner's reference-image endpoint returns
// (a real HTTP server on loopback, bearer-authenticated), not against the
// document's portrait: the person's own photo approves, another person's
// photo rejects with a face mismatch although the document's portrait is
// the person's; an endpoint without an image ends the session in ERROR
// reference_image_unavailable, no RETRY, as does one over the Face Match
// API's bound.
func TestReferenceImage(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	other, err := os.ReadFile(testenv.Data(t, "liveness", "interfaces_cc0", "089.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	var serve atomic.Value // []byte, or nil for a 404
	var calls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ref", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer s3cret-reference" || r.URL.Query().Get("partner_user_id") != "cust-1" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		b, _ := serve.Load().([]byte)
		if len(b) == 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	setup := func(pid string) {
		body, _ := json.Marshal(map[string]any{"url": "http://" + ln.Addr().String() + "/ref", "auth": "bearer", "secret": "s3cret-reference"})
		must(t, http.StatusOK, e.browser().do("PUT", "/admin/v1/partners/"+pid+"/reference-image", "application/json", body,
			map[string]string{"Authorization": "Bearer " + e.admin}))
	}
	run := func(ref []byte) (pid string, st hostedflow.State) {
		t.Helper()
		serve.Store(ref)
		pid, fc := e.initiateWith(map[string]any{"use_reference_image": true, "max_retries": 1}, setup)
		b := e.browser()
		b.open(fc.LaunchURL)
		b.capture("document", doc)
		b.capture("selfie", selfie)
		must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
		return pid, b.waitResult()
	}
	reasons := func(pid string, st hostedflow.State) (string, []string) {
		f, err := e.store.Flow(context.Background(), pid, st.Callback.SessionID)
		if err != nil || len(f.Submissions) == 0 {
			t.Fatalf("session %+v %v", f, err)
		}
		c, err := e.store.Case(context.Background(), f.Submissions[len(f.Submissions)-1])
		if err != nil {
			t.Fatal(err)
		}
		return c.Summary.Decision, c.Summary.Reasons
	}

	pid, st := run(selfie)
	d, why := reasons(pid, st)
	t.Logf("own photo as the reference: %s %v", d, why)
	if st.Status != "COMPLETED" || d != "approve" {
		t.Errorf("own photo: state %+v, decision %s %v", st, d, why)
	}
	pid, st = run(other)
	d, why = reasons(pid, st)
	t.Logf("another person's photo as the reference: %s %v", d, why)
	if d != "reject" || !slices.Contains(why, "FACE_MISMATCH") {
		t.Errorf("another person's photo: decision %s %v, want reject with FACE_MISMATCH", d, why)
	}
	pid, st = run(nil)
	if st.Status != "ERROR" || st.ErrorCode != hostedflow.ErrorReferenceImage || st.NextAction == "RETRY" {
		t.Errorf("no reference image: %+v", st)
	}
	e.wantEnded(t, pid, st.Callback.SessionID, hostedflow.ErrorReferenceImage)
	// A reference image goes to the face engine whole: over the Face
	// Match API's bound (4096x4096) it is refused from its header, as
	// unavailable, not decoded.
	pid, st = run(bigJPEG(t, 4097, 4096))
	if st.Status != "ERROR" || st.ErrorCode != hostedflow.ErrorReferenceImage || st.NextAction == "RETRY" {
		t.Errorf("a 4097x4096 reference image: %+v", st)
	}
	e.wantEnded(t, pid, st.Callback.SessionID, hostedflow.ErrorReferenceImage)
	if calls.Load() != 4 {
		t.Errorf("the endpoint was called %d times, want 4", calls.Load())
	}
}
