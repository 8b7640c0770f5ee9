package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RiskVersion implements central.Store. PutRisk inserts a row per version
// and nothing deletes one, so every database holds every version it
// published.
func (s *Store) RiskVersion(ctx context.Context, version int64) (json.RawMessage, error) {
	var doc []byte
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT doc FROM risk_config WHERE version = $1`, version).Scan(&doc)
	})
	if err != nil {
		return nil, fmt.Errorf("reading risk configuration version %d: %w", version, notFound(err))
	}
	return doc, nil
}
