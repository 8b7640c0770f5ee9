package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central/auth"
)

var (
	enrolCodeRE = regexp.MustCompile(`enrolment code: ([A-Z0-9-]+)`)
	csrfRE      = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	secretRE    = regexp.MustCompile(`id="totp-secret" class="secret">([A-Z2-7]+)<`)
	sealedRE    = regexp.MustCompile(`name="sealed" value="([^"]+)"`)
)

// consolePage adds an auditor to the database dsn with `kyc-central user
// add` (as an operator of a restored site would), signs in to the review
// console at base as a browser does (password, then the TOTP enrolment
// with the one-time code) and returns the page at path.
func (c *Cluster) consolePage(ctx context.Context, base, dsn, path string) (string, error) {
	pw := make([]byte, 18)
	rand.Read(pw)
	password := base64.RawURLEncoding.EncodeToString(pw)
	cmd := exec.CommandContext(ctx, c.opts.CentralBin, "user", "add", "--name", "drill-auditor", "--role", "auditor",
		"--store", "postgres", "--dsn", dsn, "--data", c.DataDir)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kyc-central user add: %w: %s", err, bytes.TrimSpace(out))
	}
	m := enrolCodeRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("kyc-central user add printed no enrolment code: %s", out)
	}
	jar, _ := cookiejar.New(nil)
	b := &browser{base: base, client: &http.Client{Transport: c.client.Transport, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if _, _, err := b.do(ctx, http.MethodGet, "/console/signin", nil); err != nil {
		return "", err
	}
	loc, _, err := b.do(ctx, http.MethodPost, "/console/signin", url.Values{"name": {"drill-auditor"}, "password": {password}, "next": {"/console/queue"}})
	if err != nil {
		return "", err
	}
	_, page, err := b.do(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return "", err
	}
	secret, sealed := secretRE.FindStringSubmatch(page), sealedRE.FindStringSubmatch(page)
	if secret == nil || sealed == nil {
		return "", fmt.Errorf("the console's enrolment page (%s) shows no TOTP secret", loc)
	}
	code, err := auth.Code(secret[1], time.Now())
	if err != nil {
		return "", err
	}
	if loc, _, err = b.do(ctx, http.MethodPost, "/console/enrol", url.Values{"sealed": {sealed[1]}, "enrol_code": {string(m[1])},
		"code": {code}, "next": {"/console/queue"}}); err != nil {
		return "", err
	}
	if loc != "/console/queue" {
		return "", fmt.Errorf("the console's TOTP enrolment led to %q, not the queue", loc)
	}
	_, page, err = b.do(ctx, http.MethodGet, path, nil)
	return page, err
}

// browser is a console client: cookies, the last page's CSRF token, no
// redirects followed.
type browser struct {
	base   string
	client *http.Client
	csrf   string
}

// do sends a GET, or a POST of form with the CSRF token, and returns the
// redirect's Location (for a 303) or the page.
func (b *browser) do(ctx context.Context, method, path string, form url.Values) (loc, page string, err error) {
	var body io.Reader
	if form != nil {
		form.Set("csrf", b.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("console %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", "", fmt.Errorf("console %s %s: %w", method, path, err)
	}
	if m := csrfRE.FindSubmatch(raw); m != nil {
		b.csrf = string(m[1])
	}
	switch resp.StatusCode {
	case http.StatusSeeOther:
		return resp.Header.Get("Location"), "", nil
	case http.StatusOK:
		return "", string(raw), nil
	}
	return "", "", fmt.Errorf("console %s %s: %s", method, path, resp.Status)
}
