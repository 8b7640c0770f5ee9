package pgstore

import (
	"context"
	"testing"
	"time"
)

// TestMigrationRecordsRiskServed: a database of schema 15 (no record of
// the risk versions served to devices) is migrated: its devices have none
// served, and from then on each serving is recorded.
func TestMigrationRecordsRiskServed(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 15)
	if _, err := conn.Exec(ctx, `INSERT INTO devices (id, public_key, enrolled_at) VALUES ('d1', '\x01', $1)`, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if served, err := s.RiskServed(ctx, "d1", 0); err != nil || served {
		t.Errorf("RiskServed after migrating = %t, %v; want none recorded", served, err)
	}
	for range 2 {
		if err := s.ServeRisk(ctx, "d1", 3); err != nil {
			t.Fatal(err)
		}
	}
	if served, err := s.RiskServed(ctx, "d1", 3); err != nil || !served {
		t.Errorf("RiskServed after ServeRisk = %t, %v; want true", served, err)
	}
}
