package push_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestPushStoreFailsMidway checks that a push whose images the store
// fails to read once the body is on its way is a failed attempt, logged
// with the cause, and that the partner never gets an envelope that opens
// (the tag comes last); the retry sends the push whole.
func TestPushStoreFailsMidway(t *testing.T) {
	var fail atomic.Bool
	e := newEnvWith(t, centraltest.BoltStore(t), func(s central.Store) central.Store { return centraltest.FailingImages{Store: s, Fail: &fail} })
	// Large enough that the half the broken store yields leaves central.
	e.images["front"] = make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{}).Read(e.images["front"])
	e.complete("ses-f", 1, central.FlowCompleted)
	fail.Store(true)
	e.pass()
	ev := e.pushEvents()[0]
	as := e.attempts(ev.ID)
	if !ev.DeliveredAt.IsZero() || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, "the disk failed") {
		t.Fatalf("push with the store failing: %+v, attempts %+v; want one failed attempt giving the cause", ev, as)
	}
	for _, g := range e.recv.all() {
		if g.openErr == nil {
			t.Errorf("the partner opened a push the store failed to read")
		}
	}
	fail.Store(false)
	e.clk.Advance(time.Minute)
	e.pass()
	if ev := e.pushEvents()[0]; ev.DeliveredAt.IsZero() {
		t.Fatalf("the retry was not delivered: %+v, attempts %+v", ev, e.attempts(ev.ID))
	}
	gs := e.recv.all()
	g := gs[len(gs)-1]
	if g.openErr != nil || len(g.sub.Images) != 2 || string(g.sub.Images[0].Data) != string(e.images["front"]) {
		t.Fatalf("the retry: %v, %d images", g.openErr, len(g.sub.Images))
	}
	// Written as it is read, the plaintext is still what json.Marshal
	// gives for the PushSubmission.
	if b, err := json.Marshal(g.sub); err != nil || !bytes.Equal(b, g.plain) {
		t.Errorf("the plaintext is not json.Marshal's:\n%.300s\nwant\n%.300s", g.plain, b)
	}
}

// BenchmarkPush measures one push (built from a sealed bbolt store,
// sealed and sent to the partner's endpoint over TLS on loopback) of a
// submission whose front is of 8, 32 or 64 MiB (the largest allowed),
// stored in chunks of protocol.MaxChunkSize. Run with -benchmem: what it
// allocates should not grow with the image.
func BenchmarkPush(b *testing.B) {
	for _, size := range []int{8 << 20, 32 << 20, protocol.MaxImageSize} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			e := newEnv(b, centraltest.BoltStore(b))
			e.recv.discard.Store(true)
			e.images["front"] = make([]byte, size)
			rand.NewChaCha8([32]byte{}).Read(e.images["front"])
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				e.complete(fmt.Sprintf("ses-%d", n), 1, central.FlowCompleted)
				b.StartTimer()
				e.pass()
			}
			b.StopTimer()
			if evs := e.pushEvents(); len(evs) != n || evs[n-1].DeliveredAt.IsZero() {
				b.Fatalf("%d pushes, the last %+v; want %d delivered", len(evs), evs[len(evs)-1], n)
			}
		})
	}
}
