package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// partnerCmd runs `kyc-central partner ...`.
func partnerCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"partner"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestPartnerCommands: partner add prints the client id and pass key once
// and keeps the partner key in a 0600 file; rotate-key and webhook-secret
// rotate with an overlap; each is audited; bad input is refused; and serve
// mounts the partner API, where the printed pass key gets a token and a
// flow's launch URL is built on --public-url.
func TestPartnerCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"add"}, "name"},
		{"plain http webhook", []string{"add", "--name", "Acme", "--webhook", "http://acme.example/h"}, "webhook_url"},
		{"rotate without id", []string{"rotate-key"}, "--id"},
		{"unknown partner", []string{"rotate-key", "--id", "ptn_nobody"}, "no partner"},
		{"bad overlap", []string{"webhook-secret", "--id", "ptn_x", "--overlap", "-1h"}, "--overlap"},
		{"no subcommand", nil, "add, rotate-key, webhook-secret, disable, enable, push, push-key or reference-image"},
		{"disable without id", []string{"disable"}, "--id"},
		{"enable an unknown partner", []string{"enable", "--id", "ptn_nobody"}, "no partner"},
	} {
		code, _, errOut := partnerCmd(t, append(tc.args, "--data", data)...)
		if tc.args == nil {
			code, _, errOut = partnerCmd(t)
		}
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d: %q, want 1 saying %q", tc.name, code, errOut, tc.want)
		}
	}
	code, out, errOut := partnerCmd(t, "add", "--name", "Acme Bank", "--branch", "jkt-01", "--branch", "jkt-02",
		"--webhook", "https://acme.example/hooks", "--data", data)
	if code != 0 {
		t.Fatalf("partner add: exit %d: %s", code, errOut)
	}
	var c partnerapi.Created
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.PassKey == "" || c.ClientID == "" ||
		!strings.HasPrefix(c.WebhookSecret, "whsec_") || strings.Join(c.Partner.Branches, ",") != "jkt-01,jkt-02" {
		t.Fatalf("partner add printed %s (%v)", out, err)
	}
	if fi, err := os.Stat(filepath.Join(data, partnerKeyName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("partner key: %v, %v", fi, err)
	}
	code, out, errOut = partnerCmd(t, "rotate-key", "--id", c.Partner.ID, "--overlap", "1h", "--data", data)
	var rot partnerapi.Rotated
	if code != 0 || json.Unmarshal([]byte(out), &rot) != nil || rot.Secret == "" || rot.Secret == c.PassKey || rot.PreviousValidUntil == nil {
		t.Fatalf("rotate-key: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = partnerCmd(t, "webhook-secret", "--id", c.Partner.ID, "--data", data)
	var ws partnerapi.Rotated
	if code != 0 || json.Unmarshal([]byte(out), &ws) != nil || !strings.HasPrefix(ws.Secret, "whsec_") || len(ws.Partner.WebhookSecrets) != 2 {
		t.Fatalf("webhook-secret: exit %d: %s %s", code, out, errOut)
	}
	for _, cmd := range []string{"disable", "enable"} {
		code, out, errOut = partnerCmd(t, cmd, "--id", c.Partner.ID, "--data", data)
		var v partnerapi.PartnerView
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Disabled != (cmd == "disable") || strings.Contains(errOut, "secret") {
			t.Fatalf("%s: exit %d: %s %s", cmd, code, out, errOut)
		}
	}
	s, err := boltstore.Open(filepath.Join(data, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Audit(context.Background(), central.AuditFilter{Subject: "partner:" + c.Partner.ID})
	s.Close()
	if err != nil || len(evs) != 5 || evs[0].Action != partnerapi.AuditPartnerCreate || evs[1].Action != partnerapi.AuditPartnerRotateKey ||
		evs[2].Action != partnerapi.AuditPartnerWebhookSecret || evs[0].Actor != "kyc-central partner add" ||
		evs[3].Action != partnerapi.AuditPartnerDisable || evs[4].Action != partnerapi.AuditPartnerEnable {
		t.Errorf("audit %+v, %v", evs, err)
	}

	// serve: the printed keys work (the old one during the overlap).
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs syncBuf
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", data, "--insecure-http", "--public-url", "https://kyc.acme.example"}, &bytes.Buffer{}, &logs)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d: %s", code, logs.String())
		}
	}()
	client := apitest.Client(t, nil)
	base := "http://" + addr
	waitServing(t, &logs, func() error {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	post := func(path, tok string, body any) *http.Response {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return resp
	}
	var tr partnerapi.TokenResponse
	for _, key := range []string{c.PassKey, rot.Secret} {
		resp := post("/api/v1/partner-token", "", map[string]string{"client_id": c.ClientID, "pass_key": key})
		err := json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || tr.Token == "" {
			t.Fatalf("token with %.6s...: %d %v", key, resp.StatusCode, err)
		}
	}
	resp := post("/api/v1/flows", tr.Token, map[string]any{"partner_user_id": "u1"})
	var fc partnerapi.FlowCreated
	err = json.NewDecoder(resp.Body).Decode(&fc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || !strings.HasPrefix(fc.LaunchURL, "https://kyc.acme.example/flow/") {
		t.Errorf("flow: %d %+v %v", resp.StatusCode, fc, err)
	}
}

// partnerCmdIn runs `kyc-central partner ...` with input on standard
// input.
func partnerCmdIn(t *testing.T, input string, args ...string) (int, string, string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(input)
	defer func() { stdin = old }()
	return partnerCmd(t, args...)
}

// TestPartnerSettingsCommands: partner push configures the enterprise push
// with the client secret from standard input and prints the encryption key
// once; push-key rotates it; reference-image configures the endpoint; both
// are removed with --remove; bad input is refused naming the flag's field,
// and the secrets are stored sealed, never in the output.
func TestPartnerSettingsCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, out, errOut := partnerCmd(t, "add", "--name", "Acme Bank", "--data", data)
	var c partnerapi.Created
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("partner add: exit %d: %s", code, errOut)
	}
	id := c.Partner.ID
	for _, tc := range []struct {
		name, input string
		args        []string
		want        string
	}{
		{"no id", "x\n", []string{"push"}, "--id"},
		{"no url", "x\n", []string{"push", "--id", id, "--token-url", "https://a.example/t", "--client-id", "c"}, "url is required"},
		{"no secret", "\n", []string{"push", "--id", id, "--url", "https://a.example/kyc", "--token-url", "https://a.example/t", "--client-id", "c"}, "client_secret is required"},
		{"key before push", "", []string{"push-key", "--id", id}, "has no enterprise push"},
		{"unknown partner", "x\n", []string{"push", "--id", "ptn_nobody", "--url", "https://a.example/kyc", "--token-url", "https://a.example/t", "--client-id", "c"}, "no partner"},
		{"bad auth", "x\n", []string{"reference-image", "--id", id, "--url", "https://a.example/ref", "--auth", "digest"}, "auth must be"},
		{"bad timeout", "x\n", []string{"reference-image", "--id", id, "--url", "https://a.example/ref", "--timeout", "2m"}, "timeout_ms"},
	} {
		code, _, errOut := partnerCmdIn(t, tc.input, append(tc.args, "--data", data)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d: %q, want 1 saying %q", tc.name, code, errOut, tc.want)
		}
	}
	code, out, errOut = partnerCmdIn(t, "client-secret-1\n", "push", "--id", id, "--url", "https://acme.example/kyc",
		"--token-url", "https://auth.acme.example/token", "--client-id", "central", "--scope", "kyc.write", "--data", data)
	var pr partnerapi.PushConfiguredResult
	if code != 0 || json.Unmarshal([]byte(out), &pr) != nil || pr.EncryptionKey == "" || pr.Partner.Push == nil ||
		strings.Contains(out+errOut, "client-secret-1") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("partner push: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = partnerCmd(t, "push-key", "--id", id, "--data", data)
	var rot partnerapi.PushConfiguredResult
	if code != 0 || json.Unmarshal([]byte(out), &rot) != nil || rot.KeyID == pr.KeyID || rot.EncryptionKey == "" {
		t.Fatalf("partner push-key: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = partnerCmdIn(t, "api-key-2\n", "reference-image", "--id", id, "--url", "https://acme.example/ref",
		"--auth", "header", "--header", "X-Api-Key", "--timeout", "3s", "--max-bytes", "2000000", "--data", data)
	var v partnerapi.PartnerView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.ReferenceImage == nil || v.ReferenceImage.TimeoutMS != 3000 ||
		v.ReferenceImage.MaxBytes != 2000000 || v.ReferenceImage.Header != "X-Api-Key" || strings.Contains(out+errOut, "api-key-2") {
		t.Fatalf("partner reference-image: exit %d: %s %s", code, out, errOut)
	}
	s, err := boltstore.Open(filepath.Join(data, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Partner(context.Background(), id)
	s.Close()
	if err != nil || !partnerapi.PushConfigured(p) || !partnerapi.HasReferenceImage(p) ||
		strings.Contains(string(p.Config), "client-secret-1") || strings.Contains(string(p.Config), "api-key-2") {
		t.Fatalf("stored partner: %s, %v", p.Config, err)
	}
	for _, cmd := range []string{"push", "reference-image"} {
		code, out, errOut = partnerCmd(t, cmd, "--id", id, "--remove", "--data", data)
		v = partnerapi.PartnerView{}
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Push != nil || (cmd == "reference-image" && v.ReferenceImage != nil) {
			t.Errorf("partner %s --remove: exit %d: %s %s", cmd, code, out, errOut)
		}
	}
}

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct {
		flag, addr string
		tls        bool
		want       string
	}{
		{"https://kyc.example.com", "0.0.0.0:8443", true, "https://kyc.example.com"},
		{"", "10.0.0.5:8443", true, "https://10.0.0.5:8443"},
		{"", ":8443", true, "https://127.0.0.1:8443"},
		{"", "[::1]:9000", false, "http://[::1]:9000"},
	} {
		if got := publicURL(tc.flag, tc.addr, tc.tls); got != tc.want {
			t.Errorf("publicURL(%q, %q, %v) = %q, want %q", tc.flag, tc.addr, tc.tls, got, tc.want)
		}
	}
}
