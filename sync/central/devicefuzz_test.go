package central_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/openkyc/kyc/attest"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// FuzzDeviceAPI is a device whose key was stolen, or whose software is
// broken, sending what it likes with valid signatures: sealed manifests
// of any content, image chunks at any offset, statuses, watchlist and
// review queries, unsealed bodies. Central answers each with success or a
// protocol.Error, never a 5xx but a 503, and a submission it accepted
// reads back as sent. `go test` runs the seeds; `go test -fuzz
// FuzzDeviceAPI` searches.
func FuzzDeviceAPI(f *testing.F) {
	clk := &centraltest.Clock{}
	c := centraltest.New(f, centraltest.BoltStore(f), centraltest.Options{Now: clk.Now})
	c.Serve(f)
	client := &http.Client{Transport: c.Transport(), Timeout: time.Minute}
	req, err := http.NewRequest(http.MethodPost, c.Base+"/admin/v1/enroll-tokens", nil)
	if err != nil {
		f.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Admin)
	resp, err := apitest.Client(f, c.Transport()).Do(req)
	if err != nil {
		f.Fatal(err)
	}
	var tok central.TokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		f.Fatalf("enrolment token: %d %v", resp.StatusCode, err)
	}
	id := identity.Generate()
	enr, err := identity.Enroll(context.Background(), client, c.Base, tok.Token, id, "fuzz")
	if err != nil {
		f.Fatal(err)
	}

	verdict := []byte(`{"session_id":"s-1","attempt":1,"report":{"decision":"approve","score":95,"reasons":[{"code":"OK"}]}}`)
	f.Add(uint8(8), "sub-1", verdict, "", int64(0), int64(0), []byte(nil))
	f.Add(uint8(9), "sub-2", verdict, "front", int64(0), int64(0), bytes.Repeat([]byte{0xff, 0xd8}, 600))
	f.Add(uint8(1), "sub-3", verdict, "selfie", int64(10), int64(7), []byte("0123456789abcdef"))
	f.Add(uint8(2), "", []byte(`{"config_version":3,"watchlists":{"ofac":2},"queue_depth":-1}`), "", int64(0), int64(0), []byte(nil))
	f.Add(uint8(3), "", []byte(nil), "ofac", int64(-5), int64(0), []byte(nil))
	f.Add(uint8(4), "sub-4", []byte(`{"id":"x"}`), "", int64(0), int64(0), []byte("not sealed"))
	f.Add(uint8(0), "sub-5", []byte(`{"report":{"decision":"approve","score":1e308}}`), "\x00", int64(-1), int64(0), []byte(nil))

	key, ok := id.Signer().(ed25519.PrivateKey)
	if !ok {
		f.Fatalf("identity signer is %T", id.Signer())
	}

	f.Fuzz(func(t *testing.T, kind uint8, subID string, payload []byte, image string, size, offset int64, body []byte) {
		// An hour later every budget has refilled and the nonces of the
		// last input are forgotten.
		clk.Advance(time.Hour)
		send := func(method, path string, b []byte) (int, []byte) {
			t.Helper()
			req, err := http.NewRequest(method, c.Base+path, bytes.NewReader(b))
			if err != nil {
				t.Skip("not a request a device can send:", err)
			}
			protocol.Sign(req, sha256.Sum256(b), id.DeviceID(), key, clk.Now())
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			answer, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s %s: reading the answer: %v", method, path, err)
			}
			if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s (%d bytes): %d %s", method, path, len(b), resp.StatusCode, answer)
			}
			var state map[string]json.RawMessage
			switch {
			case resp.StatusCode == http.StatusConflict && json.Unmarshal(answer, &state) == nil && state["complete"] != nil:
				// A chunk at another offset than central holds: the
				// upload's state (protocol.UploadState), for the device
				// to resume from.
			case resp.StatusCode >= 300:
				var e protocol.Error
				if err := json.Unmarshal(answer, &e); err != nil || e.Code == "" || e.Message == "" {
					t.Errorf("%s %s: %d with no protocol.Error: %q", method, path, resp.StatusCode, answer)
				}
			}
			return resp.StatusCode, answer
		}
		// A payload that is a JSON object gets a valid attestation when
		// the input asks, so that the rest of it is looked at.
		if kind&8 != 0 {
			var obj map[string]json.RawMessage
			if json.Unmarshal(payload, &obj) == nil && obj != nil {
				a := attest.Attestation{DeviceID: id.DeviceID(), AppVersion: "fuzz",
					Report: attest.Report{Verdict: attest.VerdictOK, Profile: attest.ProfileKiosk, Time: clk.Now(), OS: "linux", Arch: "amd64"}}
				if err := a.Sign(key); err != nil {
					t.Fatal(err)
				}
				if obj["attestation"], err = json.Marshal(a); err != nil {
					t.Fatal(err)
				}
				if payload, err = json.Marshal(obj); err != nil {
					t.Fatal(err)
				}
			}
		}
		// manifest seals a manifest of subID with images.
		manifest := func(images ...protocol.ImageMeta) []byte {
			t.Helper()
			doc := map[string]any{"id": subID, "created_at": clk.Now(), "images": images}
			if json.Valid(payload) {
				doc["payload"] = json.RawMessage(payload)
			} else {
				doc["payload"] = string(payload)
			}
			pt, err := json.Marshal(doc)
			if err != nil {
				t.Skip("no JSON holds this manifest:", err)
			}
			sealed, err := protocol.SealManifest(&enr.CentralBoxKey, pt)
			if err != nil {
				t.Fatal(err)
			}
			return sealed
		}
		subPath := protocol.SubmissionPath(protocol.SubmissionKey(subID))
		switch (kind & 7) % 5 {
		case 0:
			if status, _ := send(http.MethodPut, subPath, manifest()); status < 300 {
				readBack(t, c.Store, id.DeviceID(), protocol.SubmissionKey(subID), payload)
			}
		case 1:
			ck := sha256.Sum256([]byte(subID + image))
			sum := sha256.Sum256(body)
			if size == 0 {
				size = int64(len(body))
			}
			if status, _ := send(http.MethodPut, subPath, manifest(protocol.ImageMeta{Name: image, Size: size, SHA256: sum[:], Key: ck[:]})); status >= 300 {
				return
			}
			at := max(0, min(offset, int64(len(body))))
			sealed, err := protocol.SealChunk(ck[:], image, offset, body[at:])
			if err != nil {
				t.Skip(err)
			}
			send(http.MethodPut, protocol.ImagePath(protocol.SubmissionKey(subID), image, offset), sealed)
		case 2:
			send(http.MethodPut, protocol.PathStatus, payload)
		case 3:
			send(http.MethodGet, protocol.WatchlistPath(image), nil)
			send(http.MethodGet, protocol.ReviewsPath(offset), nil)
			send(http.MethodGet, protocol.PathConfig+"?v="+strconv.FormatInt(size, 10), nil)
		case 4:
			send(http.MethodPut, subPath, body)
			send(http.MethodPut, protocol.PathSubmissions+subID+"/images/"+image+"?offset="+string(payload), body)
		}
	})
}

// readBack checks that the submission central accepted holds payload as
// sent (a payload that is not JSON is refused, never stored).
func readBack(t *testing.T, st central.Store, deviceID, key string, payload []byte) {
	t.Helper()
	sub, err := st.Upload(context.Background(), deviceID, key)
	if err != nil {
		t.Fatalf("an accepted submission does not read back: %v", err)
	}
	var sent, stored bytes.Buffer
	if json.Compact(&sent, payload) != nil || json.Compact(&stored, sub.Payload) != nil || !bytes.Equal(sent.Bytes(), stored.Bytes()) {
		t.Errorf("stored payload %q, sent %q", sub.Payload, payload)
	}
}
