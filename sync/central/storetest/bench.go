package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// Bulk stores complete submissions as BeginSubmission would, through a
// backend's own fast path (one transaction, COPY), so a benchmark can fill
// a store with a realistic volume in seconds.
type Bulk func(tb testing.TB, s central.Store, subs []central.Submission)

// QueueSize is how many submissions BenchmarkQueue stores.
const QueueSize = 100_000

// QueueData returns n complete submissions spread over 50 devices, one
// every ten seconds from t0, with summaries as the engine gives them:
// mostly approved, a quarter for review, some escalated or rejected,
// mostly Indonesian KTPs.
func QueueData(n int) []central.Submission {
	r := rand.New(rand.NewPCG(1, 2))
	reasons := []string{"face_mismatch", "low_quality", "doc_expired", "nik_invalid", "glare", "liveness_low", "sanctions_hit", "age_mismatch"}
	out := make([]central.Submission, n)
	for i := range out {
		id := fmt.Sprintf("sub-%06d", i)
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		sum := central.Summary{Decision: "approve", Score: r.Float64(), DocType: "ktp", Country: "IDN", SessionID: id, Attempt: 1}
		switch p := r.IntN(100); {
		case p < 25:
			sum.Decision = "review"
		case p < 30:
			sum.Decision = "escalate"
		case p < 40:
			sum.Decision = "reject"
		}
		if sum.Decision != "approve" {
			for range 1 + r.IntN(3) {
				sum.Reasons = append(sum.Reasons, reasons[r.IntN(len(reasons))])
			}
		}
		switch p := r.IntN(100); {
		case p < 10:
			sum.DocType, sum.Country = "passport", []string{"MYS", "SGP", "PHL", "AUS"}[r.IntN(4)]
		case p < 20:
			sum.DocType = "sim"
		}
		out[i] = central.Submission{
			DeviceID: fmt.Sprintf("dev%02d", i%50), Key: protocol.SubmissionKey(id), ID: id,
			ManifestHash: []byte(id), CreatedAt: at.Add(-time.Minute), ReceivedAt: at, CompletedAt: at,
			Verdict: "allow", AttestationFresh: true, Payload: []byte(`{"report":{}}`), Summary: &sum,
		}
	}
	return out
}

// BenchmarkQueue measures the console's queue page over QueueSize
// submissions in s, stored by bulk: the default queue, with one more
// filter, newest first, a later page, a branch's devices, and a case read.
func BenchmarkQueue(b *testing.B, s central.Store, bulk Bulk) {
	ctx := context.Background()
	subs := QueueData(QueueSize)
	start := time.Now()
	bulk(b, s, subs)
	b.Logf("stored %d submissions in %v", len(subs), time.Since(start).Round(time.Millisecond))
	// Some cases in the console's hands.
	for i, sub := range subs[:400] {
		rv := central.Review{State: central.ReviewClaimed, Assignee: fmt.Sprint("user", i%4)}
		if i%2 == 0 {
			rv = central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove, DecidedBy: "user0"}
		}
		_, err := s.UpdateReview(ctx, ref(sub), func(central.Case) (central.Review, central.AuditEvent, error) {
			return rv, central.AuditEvent{ID: sub.ID, At: t0, Action: "bench"}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	with := func(f func(*central.QueueFilter)) central.QueueFilter {
		q := DefaultQueue
		f(&q)
		return q
	}
	var branch []string
	for i := range 5 {
		branch = append(branch, fmt.Sprintf("dev%02d", i))
	}
	cases := []struct {
		name string
		f    central.QueueFilter
	}{
		{"default", DefaultQueue},
		{"reason", with(func(f *central.QueueFilter) { f.Reason = "sanctions_hit" })},
		{"country", with(func(f *central.QueueFilter) { f.Country = "MYS" })},
		{"newest", with(func(f *central.QueueFilter) { f.Newest = true })},
		{"page40", with(func(f *central.QueueFilter) { f.Offset = 40 * 50 })},
		{"branch", with(func(f *central.QueueFilter) { f.DeviceIDs = branch })},
		{"assignee", with(func(f *central.QueueFilter) { f.Assignee = "user1" })},
		{"all", central.QueueFilter{Limit: 50}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				cs, n, err := s.Queue(ctx, c.f)
				if err != nil || len(cs) == 0 {
					b.Fatalf("Queue = %d cases, %v", len(cs), err)
				}
				total = n
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
	b.Run("case", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := s.Case(ctx, ref(subs[i%len(subs)])); err != nil {
				b.Fatal(err)
			}
			i += 7919
		}
	})
}
