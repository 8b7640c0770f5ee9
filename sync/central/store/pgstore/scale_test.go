package pgstore

import (
	"context"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
)

// TestReopen: nonces and rate limits survive a restart.
func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) (central.Store, func() (central.Store, error)) {
		ctx := context.Background()
		dsn, err := server.NewDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() (central.Store, error) { return Open(ctx, dsn) }
	})
}
