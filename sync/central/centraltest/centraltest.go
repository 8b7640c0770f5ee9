// Package centraltest starts a real central for the tests of the packages
// mounted on it (the partner API, the hosted flow, the console, the
// partner example): a sealed store (bbolt or a real PostgreSQL) with a
// keyring in a temporary folder, fresh box and sign keys, central.New
// serving through the production ServeListener on a free loopback port,
// over TLS with certificates from pki.Init and an admin token (or plain
// HTTP), and an injected clock. Every function takes the test, marks
// itself a helper and undoes what it started when the test ends.
//
//	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{Now: clk.Now})
//	api.Mount(c.Server)           // what the test adds
//	c.Serve(t)                    // until the test ends
//	resp, err := c.Client().Get(c.Base + "/...")
package centraltest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// Clock is a test's clock: real time plus an offset the test moves on.
// Its zero value is real time.
type Clock struct{ off atomic.Int64 }

// Now is the real time plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// BoltStore opens an empty raw bbolt store in a temporary folder.
func BoltStore(t testing.TB) central.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// PGStore opens an empty raw PostgreSQL store on a new database of srv.
func PGStore(t testing.TB, srv *pgtest.Server) central.Store {
	t.Helper()
	dsn, err := srv.NewDatabaseFrom(context.Background(), "migrated", pgstore.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Options are what the tests' centrals differ in.
type Options struct {
	// Now is central's clock; nil for central's default.
	Now func() time.Time
	// InsecureHTTP serves plain HTTP with no admin token, as the console's
	// handler tests do; otherwise TLS and an admin token.
	InsecureHTTP bool
	// Keyring seals the store; nil: a new one in a temporary folder. Two
	// centrals on one store (instances) share one.
	Keyring *seal.FileKeyring
	// AdminTokenOwner, when set, is made an enabled console admin in the
	// store and named the admin token's holder
	// (central.Config.AdminTokenOwner): the token's proposals are hers.
	AdminTokenOwner string
	// BodyFloor is central's Config.BodyFloor (0: its default), for tests
	// of a body that arrives too slowly.
	BodyFloor time.Duration
}

// Central is a central built by New: mount on Server, then Serve.
type Central struct {
	Server *central.Server
	Store  *seal.Store // the sealed store, closed when the test ends
	Base   string      // https://127.0.0.1:port (http:// with InsecureHTTP)
	Admin  string      // the admin bearer token; "" with InsecureHTTP
	CAFile string      // the CA's certificate; "" with InsecureHTTP
	// ClientTLS trusts the CA; nil with InsecureHTTP.
	ClientTLS *tls.Config
	ln        net.Listener
}

// New seals raw with a keyring in a temporary folder, makes the keys (and
// the certificates and the admin token unless o.InsecureHTTP), builds
// central on a free loopback port and returns it, not serving yet.
func New(t testing.TB, raw central.Store, o Options) *Central {
	t.Helper()
	dir := t.TempDir()
	kr := o.Keyring
	if kr == nil {
		var err error
		if kr, err = seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys")); err != nil {
			t.Fatal(err)
		}
	}
	store := seal.New(raw, kr, kr)
	t.Cleanup(func() { store.Close() })
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	_, sign, _ := ed25519.GenerateKey(rand.Reader)
	c := &Central{Store: store}
	cfg := central.Config{Addr: "127.0.0.1:0", Store: store, BoxKey: box, SignKey: sign, Now: o.Now, InsecureHTTP: o.InsecureHTTP,
		BodyFloor: o.BodyFloor}
	scheme := "http://"
	if !o.InsecureHTTP {
		scheme = "https://"
		files, err := pki.Init(filepath.Join(dir, "tls"), []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.TLS, err = pki.ServerConfig(files.ServerCert, files.ServerKey); err != nil {
			t.Fatal(err)
		}
		caPEM, err := os.ReadFile(files.CACert)
		if err != nil {
			t.Fatal(err)
		}
		if c.ClientTLS, err = pki.ClientConfig(caPEM); err != nil {
			t.Fatal(err)
		}
		c.CAFile = files.CACert
		tok := make([]byte, 32)
		rand.Read(tok)
		c.Admin = base64.RawURLEncoding.EncodeToString(tok)
		cfg.AdminToken = c.Admin
	}
	if o.AdminTokenOwner != "" {
		owner := central.User{Name: o.AdminTokenOwner, Role: central.RoleAdmin, CreatedAt: time.Now()}
		if err := store.CreateUser(context.Background(), owner); err != nil {
			t.Fatal(err)
		}
		cfg.AdminTokenOwner = o.AdminTokenOwner
	}
	if c.Server, err = central.New(cfg); err != nil {
		t.Fatal(err)
	}
	if c.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c.Base = scheme + c.ln.Addr().String()
	return c
}

// Transport is an HTTP transport trusting the central's CA.
func (c *Central) Transport() *http.Transport {
	return &http.Transport{TLSClientConfig: c.ClientTLS}
}

// Serve serves until the test ends, with run (workers of the test's
// packages) beside it on the same context; at the end the context is
// cancelled and an error of any of them fails the test.
func (c *Central) Serve(t testing.TB, run ...func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1+len(run))
	go func() { done <- c.Server.ServeListener(ctx, c.ln, nil) }()
	for _, r := range run {
		go func() { done <- r(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range 1 + len(run) {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
}

// JPEG is a small real JPEG of w×h pixels (a colour gradient), for the
// images of test submissions.
func JPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
