package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// testRiskHistory: every version published stays readable by its number
// after newer ones (central judges a decision by the bands it was made
// under); a version never published is ErrNotFound.
func testRiskHistory(t *testing.T, s central.Store) {
	ctx := context.Background()
	if _, err := s.RiskVersion(ctx, 1); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("RiskVersion(1) of an empty store = %v, want ErrNotFound", err)
	}
	for v := int64(1); v <= 3; v++ {
		if got, err := s.PutRisk(ctx, json.RawMessage(fmt.Sprintf(`{"bands":{"approve_min":%d}}`, 84+v))); err != nil || got != v {
			t.Fatalf("PutRisk = %d, %v; want version %d", got, err, v)
		}
	}
	for _, tc := range []struct {
		version int64
		want    string // "" for ErrNotFound
	}{
		{1, `{"bands":{"approve_min":85}}`},
		{2, `{"bands":{"approve_min":86}}`},
		{3, `{"bands":{"approve_min":87}}`},
		{0, ""},
		{-1, ""},
		{4, ""},
	} {
		doc, err := s.RiskVersion(ctx, tc.version)
		if tc.want == "" {
			if !errors.Is(err, central.ErrNotFound) {
				t.Errorf("RiskVersion(%d) = %s, %v; want ErrNotFound", tc.version, doc, err)
			}
			continue
		}
		if err != nil || string(doc) != tc.want {
			t.Errorf("RiskVersion(%d) = %s, %v; want %s", tc.version, doc, err, tc.want)
		}
	}
	if doc, v, err := s.Risk(ctx); err != nil || v != 3 || string(doc) != `{"bands":{"approve_min":87}}` {
		t.Errorf("Risk = %s, %d, %v; want version 3, the last published", doc, v, err)
	}
}
