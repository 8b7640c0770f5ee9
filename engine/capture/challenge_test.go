package capture

import (
	"context"
	"slices"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestChallengeTimeBounds drives a selfie guide with frame times, no
// clock: each prompt must be met within PromptTime of its showing and all
// of them within ChallengeTime of the first, or the guide ends with the
// challenge failed and only what was met before.
func TestChallengeTimeBounds(t *testing.T) {
	det := yunet(t)
	s := newSelfieScene(t, det, "penny/penny1.png")
	poses := map[string]func() gocv.Mat{
		"straight": func() gocv.Mat { return s.frame(0.5, 0.45, 1, 1) },
		"left":     func() gocv.Mat { return s.frame(0.5, 0.45, 1, 1, turn(-0.5), mirror) },
		"right":    func() gocv.Mat { return s.frame(0.5, 0.45, 1, 1, turn(0.5)) },
	}
	type shown struct {
		after time.Duration // since the selfie's capture
		pose  string
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	tests := []struct {
		name                      string
		promptTime, challengeTime time.Duration
		frames                    []shown
		failed                    bool
		captured                  []string
	}{
		{name: "both turns in time", promptTime: sec(5), challengeTime: sec(20),
			frames:   []shown{{sec(1), "straight"}, {sec(4.9), "left"}, {sec(6), "straight"}, {sec(9.8), "right"}},
			captured: []string{"selfie", "turn_left", "turn_right"}},
		{name: "the first turn comes too late", promptTime: sec(5), challengeTime: sec(20),
			frames: []shown{{sec(2), "straight"}, {sec(5.1), "left"}}, failed: true, captured: []string{"selfie"}},
		{name: "the second turn comes too late", promptTime: sec(5), challengeTime: sec(20),
			frames: []shown{{sec(1), "left"}, {sec(3), "straight"}, {sec(6.1), "right"}}, failed: true, captured: []string{"selfie", "turn_left"}},
		{name: "each turn in time, the whole too long", promptTime: sec(5), challengeTime: sec(8),
			frames: []shown{{sec(4), "left"}, {sec(8.5), "right"}}, failed: true, captured: []string{"selfie", "turn_left"}},
		{name: "the wrong way first waits for the right one", promptTime: sec(5), challengeTime: sec(20),
			frames: []shown{{sec(0.5), "right"}, {sec(1), "left"}, {sec(2), "right"}}, captured: []string{"selfie", "turn_left", "turn_right"}},
		{name: "unbounded", frames: []shown{{sec(30), "left"}, {sec(60), "right"}}, captured: []string{"selfie", "turn_left", "turn_right"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultSelfieConfig()
			cfg.Challenges, cfg.PromptTime, cfg.ChallengeTime = []Message{TurnLeft, TurnRight}, tt.promptTime, tt.challengeTime
			g, err := NewSelfieGuide(det, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			seq := 0
			analyse := func(at time.Duration, pose string) Overlay {
				t.Helper()
				img := poses[pose]()
				defer img.Close()
				seq++
				ov, err := g.Analyse(context.Background(), Frame{Seq: seq, Time: at, Image: img})
				if err != nil {
					t.Fatal(err)
				}
				return ov
			}
			// Steady frames a tenth of a second apart until the selfie.
			var selfieAt time.Duration
			for i := 0; selfieAt == 0; i++ {
				if i > 20 {
					t.Fatal("no selfie from 20 steady frames")
				}
				at := time.Duration(i+1) * 100 * time.Millisecond
				if analyse(at, "straight").Captured == "selfie" {
					selfieAt = at
				}
			}
			for _, f := range tt.frames {
				analyse(selfieAt+f.after, f.pose)
			}
			var names []string
			for _, c := range g.Captures() {
				names = append(names, c.Name)
				c.Image.Close()
			}
			if g.Failed() != tt.failed || !g.Done() || !slices.Equal(names, tt.captured) {
				t.Errorf("failed %v done %v captures %v, want failed %v, captures %v", g.Failed(), g.Done(), names, tt.failed, tt.captured)
			}
		})
	}
}

// TestShuffleChallenges draws the order of two turns: both orders come
// up, and every draw holds the same prompts.
func TestShuffleChallenges(t *testing.T) {
	in := []Message{TurnLeft, TurnRight}
	seen := map[Message]bool{}
	for range 64 { // both orders, but with probability 2^-63
		out := ShuffleChallenges(in)
		if len(out) != 2 || !slices.Contains(out, TurnLeft) || !slices.Contains(out, TurnRight) {
			t.Fatalf("shuffled %v into %v", in, out)
		}
		seen[out[0]] = true
	}
	if !seen[TurnLeft] || !seen[TurnRight] {
		t.Errorf("first prompts drawn: %v, want both turns", seen)
	}
	if !slices.Equal(in, []Message{TurnLeft, TurnRight}) {
		t.Errorf("the input was changed: %v", in)
	}
}
