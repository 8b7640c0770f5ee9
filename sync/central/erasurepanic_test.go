package central_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// panickyStore panics where it would erase a submission (a damaged
// record, a store's bug).
type panickyStore struct{ *seal.Store }

func (p *panickyStore) EraseSubmission(context.Context, string, central.SubmissionRef) error {
	panic("damaged record")
}

// TestErasurePanicEndsIt: an erasure whose run panics is an error of
// that run, not a panic: River counts the attempt as for any failure and
// the last attempt ends the erasure failed, saying why, rather than leave
// it "running" with no job left to finish it (River discards a job whose
// last attempt panicked); bbolt's resume at start logs it rather than
// take the process down.
func TestErasurePanicEndsIt(t *testing.T) {
	store := &panickyStore{Store: sealedBolt(t)}
	personSubmission(t, store, "sub-1", erasureNIK)
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	sign, err := central.GenerateSignKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := central.New(central.Config{Store: store, BoxKey: box, SignKey: sign})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, ok := store.Token(central.IdentNIK, erasureNIK)
	if !ok {
		t.Fatal("no token for the NIK")
	}
	e := central.Erasure{ID: "er-poison", Status: central.ErasureQueued, Actor: "admin:ops", RequestedAt: time.Now().UTC(), Tokens: [][]byte{tok}}
	if err := store.AddErasure(ctx, e, false); err != nil {
		t.Fatal(err)
	}
	run := func(final bool) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panicked: %v", r)
				t.Errorf("RunErasure (final %v) panicked: %v", final, r)
			}
		}()
		return srv.RunErasure(ctx, e.ID, final)
	}
	if err := run(false); err == nil || !strings.Contains(err.Error(), "damaged record") {
		t.Errorf("a run that panicked = %v, want its error", err)
	}
	if err := run(true); err == nil {
		t.Error("the last run that panicked returned no error")
	}
	got, err := store.Erasure(ctx, e.ID)
	if err != nil || got.Status != central.ErasureFailed || !strings.Contains(got.Error, "damaged record") {
		t.Errorf("the erasure after its last run panicked: %+v, %v; want failed, saying why", got, err)
	}
}
