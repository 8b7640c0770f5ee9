package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
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

// TestMigrationRecordsConfigServed: a database of schema 17 (no record of
// the configurations served) is migrated: each device it holds gets the
// upgrade's time with its lists unknown, and the next serving replaces it.
func TestMigrationRecordsConfigServed(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 17)
	if _, err := conn.Exec(ctx, `INSERT INTO devices (id, public_key, enrolled_at) VALUES ('d1', '\x01', $1)`, time.Now()); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.LastConfig(ctx, "d1")
	if err != nil || !got.ListsUnknown || got.At.Before(before.Add(-time.Minute)) || len(got.Watchlists) != 0 {
		t.Errorf("LastConfig after migrating = %+v, %v; want the upgrade's time with the lists unknown", got, err)
	}
	served := central.ConfigServing{At: time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond), Watchlists: map[string]int64{"un": 2}}
	if err := s.ServeConfig(ctx, "d1", served); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LastConfig(ctx, "d1"); err != nil || got.ListsUnknown || !got.At.Equal(served.At) || got.Watchlists["un"] != 2 {
		t.Errorf("LastConfig after a serving = %+v, %v; want %+v", got, err, served)
	}
}
