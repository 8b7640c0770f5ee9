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

// ServeRisk implements central.Store. A device syncs its configuration
// over and over: an insert that conflicts writes nothing.
func (s *Store) ServeRisk(ctx context.Context, deviceID string, version int64) error {
	if _, err := s.exec(ctx, `INSERT INTO risk_served (device_id, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`, deviceID, version); err != nil {
		return fmt.Errorf("recording risk configuration version %d served to device %s: %w", version, deviceID, err)
	}
	return nil
}

// RiskServed implements central.Store.
func (s *Store) RiskServed(ctx context.Context, deviceID string, version int64) (bool, error) {
	var served bool
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM risk_served WHERE device_id = $1 AND version = $2)`, deviceID, version).Scan(&served)
	})
	if err != nil {
		return false, fmt.Errorf("reading whether risk configuration version %d was served to device %s: %w", version, deviceID, err)
	}
	return served, nil
}
