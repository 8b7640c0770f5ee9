// Package pgtest starts a private PostgreSQL server for tests and
// benchmarks: initdb into a temporary directory, postgres listening on a
// free port on 127.0.0.1 only (no Unix socket), trust authentication for
// the superuser "postgres". PostgreSQL refuses to run as root, so when the
// tests run as root the server runs as the "postgres" OS user that Debian's
// package creates (through runuser), and the data directory is chowned to
// it. Binaries come from $KYC_PG_BIN or /usr/lib/postgresql/15/bin.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinEnv names the environment variable overriding the PostgreSQL bin dir.
const BinEnv = "KYC_PG_BIN"

const defaultBin = "/usr/lib/postgresql/15/bin"

// Server is a running private PostgreSQL server.
type Server struct {
	dir  string // temporary directory holding data and log
	bin  string
	port int
	dbs  atomic.Int64

	tmplMu sync.Mutex
	tmpls  map[string]error // templates prepared (nil) or failed
}

// Start initialises and starts a server. Stop it with Stop.
func Start(ctx context.Context) (*Server, error) {
	bin := os.Getenv(BinEnv)
	if bin == "" {
		bin = defaultBin
	}
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, fmt.Errorf("starting test PostgreSQL: %w (set %s)", err, BinEnv)
	}
	dir, err := os.MkdirTemp("", "kyc-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("starting test PostgreSQL: %w", err)
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting test PostgreSQL: %w", err)
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	data := filepath.Join(s.dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The server user must reach the data directory and write its log.
		if err := os.Chmod(s.dir, 0o755); err != nil {
			return err
		}
		for _, p := range []string{s.dir, data} {
			if err := os.Chown(p, uid, gid); err != nil {
				return err
			}
		}
	}
	if out, err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port can be taken between probe and bind
		port, err := freePort()
		if err != nil {
			return err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories= -c max_connections=200 -c shared_buffers=128MB", port)
		out, err := s.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(s.dir, "postgres.log"), "-o", opts)
		if err == nil {
			s.port = port
			return nil
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
		lastErr = fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return lastErr
}

func (s *Server) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// DSN is the connection string of database db on the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// NewDatabase creates a fresh empty database and returns its DSN.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	if err := s.createDatabase(ctx, name, ""); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// NewDatabaseFrom creates a fresh database as a copy of template, which
// prepare (given the template's DSN) sets up the first time a test asks
// for it on this server: copying a migrated database is a file copy,
// where migrating each test's database again costs about a second.
// prepare must close its connections before it returns (PostgreSQL copies
// only a template nobody is connected to).
func (s *Server) NewDatabaseFrom(ctx context.Context, template string, prepare func(ctx context.Context, dsn string) error) (string, error) {
	s.tmplMu.Lock()
	defer s.tmplMu.Unlock()
	err, done := s.tmpls[template]
	if !done {
		err = s.createDatabase(ctx, template, "")
		if err == nil {
			err = prepare(ctx, s.DSN(template))
		}
		if err != nil {
			err = fmt.Errorf("preparing template %s: %w", template, err)
		}
		if s.tmpls == nil {
			s.tmpls = map[string]error{}
		}
		s.tmpls[template] = err
	}
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	if err := s.createDatabase(ctx, name, template); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// createDatabase creates database name, a copy of template if not empty.
func (s *Server) createDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("creating database: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", filepath.Join(s.dir, "data"))
	if err != nil {
		err = fmt.Errorf("stopping test PostgreSQL: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}
