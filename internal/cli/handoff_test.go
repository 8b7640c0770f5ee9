package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/protocol"
)

// startFlowCentral is a real central over TLS on loopback with the hosted
// flow mounted (and its engines, which the hand-off requires), on a plain
// bbolt store.
func startFlowCentral(t *testing.T) *cliCentral {
	t.Helper()
	testenv.ORT(t)
	ms, err := models.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engines.Open(context.Background(), ms, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return startCentralWith(t, func(srv *central.Server, store *boltstore.Store, base string) []func(context.Context) error {
		flow, err := hostedflow.New(hostedflow.Config{Store: store, Engines: eng, PublicURL: base})
		if err != nil {
			t.Fatal(err)
		}
		flow.Mount(srv)
		return []func(context.Context) error{flow.Run}
	})
}

// TestHandoffCommand: `kyc handoff` on an enrolled device opens a Smart
// QR hand-off at a real central: with --no-wait it prints the hand-off and
// writes the QR code as a PNG; waiting, it draws the QR code on stderr,
// follows the phone (which types the short code it shows) and, when
// interrupted, cancels the hand-off and says so. A central without the
// hosted flow answers that the hand-off is unavailable.
func TestHandoffCommand(t *testing.T) {
	c := startFlowCentral(t)
	dir, _ := deviceEnv(t)
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--token-file", c.tokenFile(t), "--ca", c.CAFile); code != ExitOK {
		t.Fatalf("enroll: %d %v", code, res)
	}

	pngFile := filepath.Join(t.TempDir(), "qr.png")
	code, res := runCLI(t, "handoff", "--dir", dir, "--no-wait", "--png", pngFile, "--lang", "id")
	h, _ := res["handoff"].(map[string]any)
	if code != ExitOK || !strings.HasPrefix(h["url"].(string), c.URL+"/flow/h/") || len(h["short_code"].(string)) != 8 {
		t.Fatalf("handoff --no-wait: %d %v", code, res)
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 200 {
		t.Errorf("QR PNG: %v %v", img.Bounds(), err)
	}

	// Waiting: the phone types the code the command shows.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pr.Close() // a failing test stops reading: the command's writes then fail instead of blocking
	var out bytes.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- Main(ctx, []string{"handoff", "--dir", dir, "--poll", "100ms"}, &out, pw, "test")
		pw.Close()
	}()
	codeRE := regexp.MustCompile(`open (\S+/flow/code) and type ([A-Z0-9]{8})`)
	sc := bufio.NewScanner(pr)
	var qrLines int
	phoneBound := false
	for sc.Scan() {
		line := sc.Text()
		if strings.ContainsAny(line, "█▀▄") {
			qrLines++
		}
		if m := codeRE.FindStringSubmatch(line); m != nil {
			phone := phoneClient(t, c)
			resp, err := phone.PostForm(m[1], url.Values{"code": {m[2]}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("phone typing the code: %d", resp.StatusCode)
			}
		}
		if strings.Contains(line, "capturing on their phone") && !phoneBound {
			phoneBound = true
			cancel() // the operator interrupts: the command cancels the hand-off
		}
	}
	if got := <-exit; got != ExitRejected {
		t.Errorf("interrupted handoff exit %d, want %d", got, ExitRejected)
	}
	if qrLines < 10 || !phoneBound {
		t.Errorf("stderr: %d QR lines, phone seen %v", qrLines, phoneBound)
	}
	var r handoffResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if r.Result.Stage != "canceled" || r.Result.ErrorCode != "canceled" {
		t.Errorf("interrupted handoff result %+v", r.Result)
	}
	// Central agrees: the session is canceled.
	fs, err := c.Store.Flow(context.Background(), hostedflow.KioskPartner, r.Handoff.SessionID)
	if err != nil || fs.Status != central.FlowError || fs.ErrorCode != "canceled" {
		t.Errorf("central's session %+v %v", fs.Status, err)
	}

	// A central without the hosted flow.
	plain := startCentral(t)
	dir2 := filepath.Join(t.TempDir(), "device2")
	if code, res := runCLI(t, "enroll", "--central", plain.URL, "--token-file", plain.tokenFile(t), "--ca", plain.CAFile, "--dir", dir2); code != ExitOK {
		t.Fatalf("enroll: %d %v", code, res)
	}
	if code, res := runCLI(t, "handoff", "--dir", dir2, "--no-wait"); code != ExitUnavailable || errCode(res) != "handoff_unavailable" {
		t.Errorf("handoff without the hosted flow: %d %v", code, res)
	}
}

// phoneClient is a phone's browser: trusts central's CA, keeps cookies,
// does not follow redirects.
func phoneClient(t *testing.T, c *cliCentral) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: c.client.Transport, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestHandoffWaitBounded: a central that keeps answering "waiting for the
// phone" does not hold `kyc handoff` past --wait: it ends with
// handoff_timeout (exit 6), having canceled the hand-off. The hand-off
// endpoints are a fake behind the real central's device authentication,
// since the real hosted flow ends its sessions.
func TestHandoffWaitBounded(t *testing.T) {
	const id = "hof-stuck"
	var polls atomic.Int32
	canceled := make(chan string, 1)
	answer := func(w http.ResponseWriter, status int, v any) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		return json.NewEncoder(w).Encode(v)
	}
	c := startCentralWith(t, func(srv *central.Server, _ *boltstore.Store, base string) []func(context.Context) error {
		srv.MountDevice("POST "+protocol.PathHandoffs, 4<<10, func(w http.ResponseWriter, _ *http.Request, _ central.Device, _ []byte) error {
			return answer(w, http.StatusCreated, handoff.Handoff{ID: id, URL: base + "/flow/h/x", CodeURL: base + "/flow/code",
				ShortCode: "ABCD2345", LinkExpiresAt: time.Now().Add(time.Hour), ExpiresAt: time.Now().Add(time.Hour)})
		})
		srv.MountDevice("GET "+protocol.PathHandoffs+"{id}", 0, func(w http.ResponseWriter, r *http.Request, _ central.Device, _ []byte) error {
			polls.Add(1)
			return answer(w, http.StatusOK, handoff.Status{ID: r.PathValue("id"), Stage: handoff.StageWaiting, ExpiresAt: time.Now().Add(time.Hour)})
		})
		srv.MountDevice("DELETE "+protocol.PathHandoffs+"{id}", 0, func(w http.ResponseWriter, r *http.Request, _ central.Device, _ []byte) error {
			canceled <- r.PathValue("id")
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
		return nil
	})
	dir, _ := deviceEnv(t)
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--token-file", c.tokenFile(t), "--ca", c.CAFile); code != ExitOK {
		t.Fatalf("enroll: %d %v", code, res)
	}
	code, res := runCLI(t, "handoff", "--dir", dir, "--poll", "20ms", "--wait", "500ms")
	if code != ExitUnavailable || errCode(res) != "handoff_timeout" {
		t.Errorf("handoff with central pending for ever: exit %d, %v; want %d, handoff_timeout", code, res, ExitUnavailable)
	}
	if n := polls.Load(); n < 2 {
		t.Errorf("central was asked %d times: the wait did not go on until --wait passed", n)
	}
	select {
	case got := <-canceled:
		if got != id {
			t.Errorf("canceled hand-off %q, want %q", got, id)
		}
	default:
		t.Error("the hand-off given up on was not canceled at central")
	}
	if code, res := runCLI(t, "handoff", "--dir", dir, "--wait", "0s"); code != ExitUsage {
		t.Errorf("--wait 0s: exit %d, %v; want a usage error", code, res)
	}
}
