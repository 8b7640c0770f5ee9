package webhook

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// TestDeliverSealedUserReference: on a sealed store the partner's user
// reference is stored sealed and still reaches the partner in clear, the
// body byte for byte as written and signed; the answer's excerpt is
// stored sealed.
func TestDeliverSealedUserReference(t *testing.T) {
	eachStore(t, func(t *testing.T, raw central.Store) {
		ctx := context.Background()
		kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
		if err != nil {
			t.Fatal(err)
		}
		st := seal.New(raw, kr, kr)
		clk := newClock()
		rc := partnerReceiver(t, st, nil)
		ev, err := NewEvent(central.EventSubmissionCompleted, "p1", "s1",
			Data{SessionID: "s1", PartnerUserID: "alice@example.com", PartnerUserIDType: "email", Status: central.FlowCompleted}, clk.Now(), "evt_a")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
			t.Fatal(err)
		}
		if stored := eventByID(t, raw, "p1", "evt_a"); bytes.Contains(stored.Payload, []byte("alice")) {
			t.Fatalf("stored body %s holds the user reference in clear", stored.Payload)
		}
		if n, err := newWorker(t, st, clk, nil).RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		got := rc.requests()
		if len(got) != 1 || got[0].Err != nil || !bytes.Equal(got[0].Body, ev.Payload) || !bytes.Contains(got[0].Body, []byte(`"partner_user_id":"alice@example.com"`)) {
			t.Fatalf("received %+v, want the body %s", got, ev.Payload)
		}
		// The answer's excerpt is sealed too (RecordLeased).
		if as, err := raw.Attempts(ctx, "evt_a"); err != nil || len(as) != 1 || as[0].Excerpt == "thanks" {
			t.Errorf("stored attempts %+v, %v; want one, its excerpt sealed", as, err)
		}
		if as, err := st.Attempts(ctx, "evt_a"); err != nil || len(as) != 1 || as[0].Excerpt != "thanks" {
			t.Errorf("attempts %+v, %v; want the answer's excerpt", as, err)
		}
	})
}
