package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// ServeConfig implements central.Store. Instances serving the same device
// at once keep the later serving.
func (s *Store) ServeConfig(ctx context.Context, deviceID string, c central.ConfigServing) error {
	lists, err := json.Marshal(c.Watchlists)
	if err != nil {
		return fmt.Errorf("encoding the watchlists served to device %s: %w", deviceID, err)
	}
	_, err = s.exec(ctx, `INSERT INTO config_served (device_id, at, watchlists, lists_unknown) VALUES ($1, $2, $3, $4)
		ON CONFLICT (device_id) DO UPDATE SET at = EXCLUDED.at, watchlists = EXCLUDED.watchlists, lists_unknown = EXCLUDED.lists_unknown
		WHERE config_served.at <= EXCLUDED.at`,
		deviceID, c.At, lists, c.ListsUnknown)
	if err != nil {
		return fmt.Errorf("recording the configuration served to device %s: %w", deviceID, err)
	}
	return nil
}

// LastConfig implements central.Store.
func (s *Store) LastConfig(ctx context.Context, deviceID string) (central.ConfigServing, error) {
	var c central.ConfigServing
	var lists []byte
	err := s.query(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT at, watchlists, lists_unknown FROM config_served WHERE device_id = $1`, deviceID).Scan(&c.At, &lists, &c.ListsUnknown)
	})
	if err != nil {
		return central.ConfigServing{}, fmt.Errorf("reading the last configuration served to device %s: %w", deviceID, notFound(err))
	}
	if err := json.Unmarshal(lists, &c.Watchlists); err != nil {
		return central.ConfigServing{}, fmt.Errorf("reading the last configuration served to device %s: %w", deviceID, err)
	}
	c.At = c.At.UTC()
	return c, nil
}
