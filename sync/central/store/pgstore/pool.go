package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pool is a minimal connection pool. pgx's own pool (pgxpool) needs a
// module this repository does not carry, and the store's needs are simple:
// bounded connections, reused while healthy.
type pool struct {
	cfg  *pgx.ConnConfig
	sem  chan struct{}  // one token per connection in use
	idle chan *pgx.Conn // healthy connections waiting for reuse
}

func newPool(cfg *pgx.ConnConfig, size int) *pool {
	return &pool{cfg: cfg, sem: make(chan struct{}, size), idle: make(chan *pgx.Conn, size)}
}

// with runs fn on a connection, waiting for one when all are busy.
func (p *pool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	var c *pgx.Conn
	select {
	case c = <-p.idle:
	default:
		var err error
		if c, err = pgx.ConnectConfig(ctx, p.cfg); err != nil {
			return fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
	}
	err := fn(c)
	// A connection left inside a transaction or closed by an interrupted
	// query is not reused.
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		c.Close(context.Background())
		return err
	}
	p.idle <- c // never blocks: at most size connections exist
	return err
}

// close closes the idle connections. Callers must have stopped using the pool.
func (p *pool) close() {
	for {
		select {
		case c := <-p.idle:
			c.Close(context.Background())
		default:
			return
		}
	}
}
