package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The operations the scale-out drills (sync/central/drill) run on a
// server: a restart under load, a backup restored elsewhere, the
// postmaster's process for its CPU time.

// Restart stops the server (fast shutdown: open connections are cut, as
// by a failover) and starts it again on the same port, waiting until it
// accepts connections.
func (s *Server) Restart(ctx context.Context) error {
	if out, err := s.run(ctx, "pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", filepath.Join(s.dir, "data"),
		"-l", filepath.Join(s.dir, "postgres.log")); err != nil {
		return fmt.Errorf("restarting test PostgreSQL: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Dump writes database db to file in pg_dump's custom format (a
// consistent snapshot, taken while the database serves).
func (s *Server) Dump(ctx context.Context, db, file string) error {
	if out, err := s.client(ctx, "pg_dump", "--format=custom", "--compress=0", "--file="+file, "--dbname="+s.DSN(db)); err != nil {
		return fmt.Errorf("pg_dump %s: %w: %s", db, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Restore loads a Dump file into a new database of this server and
// returns its DSN.
func (s *Server) Restore(ctx context.Context, file string) (string, error) {
	dsn, err := s.NewDatabase(ctx)
	if err != nil {
		return "", err
	}
	if out, err := s.client(ctx, "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+dsn, file); err != nil {
		return "", fmt.Errorf("pg_restore %s: %w: %s", file, err, strings.TrimSpace(string(out)))
	}
	return dsn, nil
}

// client runs a client tool of the server's version as the current user:
// clients connect over TCP and need no access to the data directory.
func (s *Server) client(ctx context.Context, tool string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, filepath.Join(s.bin, tool), args...).CombinedOutput()
}

// PID is the postmaster's process id (its children are the server's other
// processes).
func (s *Server) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("reading the postmaster's pid: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("reading the postmaster's pid: %w", err)
	}
	return pid, nil
}

// Port is the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }
