package hostedflow

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/device"
)

// TestMinRecentFrames: the floor of a step's kept frames covers what
// their users need: the guides' windows (keepCapture takes the chosen
// frame from them) and feedEvidence's fewest frames.
func TestMinRecentFrames(t *testing.T) {
	for name, n := range map[string]int{
		"document window": capture.DefaultDocumentConfig().StableFrames,
		"selfie window":   capture.DefaultSelfieConfig().StableFrames,
		"feed":            device.MinFeedFrames,
	} {
		if minRecentFrames < n {
			t.Errorf("minRecentFrames %d, below the %s's %d", minRecentFrames, name, n)
		}
	}
}

// TestKeepFrame: frames of the largest size for three steps in turn: the
// earlier steps' go first, the current step keeps its newest
// minRecentFrames; the instance's count follows; a frame past the
// instance's limit changes nothing; dropping a step gives its bytes back.
func TestKeepFrame(t *testing.T) {
	var held atomic.Int64
	l := &live{recent: map[string][]rawFrame{}, held: &held}
	seq := 0
	frame := func(n int) rawFrame { seq++; return rawFrame{seq: seq, data: make([]byte, n)} }
	for _, step := range []string{stepDocument, stepBack, stepSelfie} {
		for range recentFrames {
			if !l.keepFrame(step, frame(MaxFrameBytes), 1<<40) {
				t.Fatal("a frame refused below the limit")
			}
		}
	}
	var seqs []int
	for _, fr := range l.recent[stepSelfie] {
		seqs = append(seqs, fr.seq)
	}
	if len(l.recent) != 1 || !slices.Equal(seqs, []int{20, 21, 22, 23, 24}) {
		t.Errorf("kept %d steps, the selfie's frames %v; want the selfie's newest five only", len(l.recent), seqs)
	}
	if l.recentBytes != 5*MaxFrameBytes || held.Load() != l.recentBytes {
		t.Errorf("%d bytes kept, %d counted; want %d", l.recentBytes, held.Load(), 5*MaxFrameBytes)
	}
	// Small frames: a step's last recentFrames, whatever the other steps hold.
	for range recentFrames + 2 {
		l.keepFrame(stepDocument, frame(100<<10), 1<<40)
	}
	if n := len(l.recent[stepDocument]); n != recentFrames {
		t.Errorf("the document keeps %d small frames, want %d", n, recentFrames)
	}
	// A frame that adds bytes past the instance's limit.
	before := l.recentBytes
	if l.keepFrame(stepBack, frame(1<<20), before+1<<20-1) {
		t.Error("a frame past the instance's limit was kept")
	}
	if l.recentBytes != before || held.Load() != before || len(l.recent[stepBack]) != 0 {
		t.Errorf("a refused frame changed the kept bytes: %d, counted %d, want %d", l.recentBytes, held.Load(), before)
	}
	for _, st := range []string{stepDocument, stepBack, stepSelfie} {
		l.dropRecent(st)
	}
	if l.recentBytes != 0 || held.Load() != 0 || len(l.recent) != 0 {
		t.Errorf("after dropping every step: %d bytes, counted %d, %d steps", l.recentBytes, held.Load(), len(l.recent))
	}
}
