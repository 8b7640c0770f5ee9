package capture

import (
	"context"
	"testing"

	"github.com/openkyc/kyc/engine/capture/source"
)

// runVideo runs guide g over every frame of the video at path and returns
// the overlays.
func runVideo(t *testing.T, path string, g Guide) ([]Overlay, Stats) {
	t.Helper()
	spec, err := source.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.Open(context.Background(), spec, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ovs []Overlay
	st, err := Run(context.Background(), src, g, Options{EveryFrame: true, OnFrame: func(_ Frame, ov Overlay) { ovs = append(ovs, ov) }})
	if err != nil {
		t.Fatal(err)
	}
	return ovs, st
}

// majority returns the most frequent message of overlays [from, to).
func majority(ovs []Overlay, from, to int) Message {
	n := map[Message]int{}
	var best Message
	if from >= len(ovs) {
		return best
	}
	for _, ov := range ovs[from:min(to, len(ovs))] {
		n[ov.Message]++
		if n[ov.Message] > n[best] {
			best = ov.Message
		}
	}
	return best
}

func TestDocumentVideo(t *testing.T) {
	scene := newDocScene(t, 1280, 720)
	for _, sides := range []int{1, 2} {
		segs := scene.segments(sides)
		path, starts := writeVideo(t, segs)
		cfg := DefaultDocumentConfig()
		cfg.Sides = sides
		g, err := NewDocumentGuide(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ovs, st := runVideo(t, path, g)
		caps := g.Captures()
		for i, sg := range segs {
			end := len(ovs)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			if starts[i] >= len(ovs) {
				t.Errorf("sides %d: segment %s never analysed (%d frames)", sides, sg.name, len(ovs))
				continue
			}
			if got := majority(ovs, starts[i], end); got != sg.want {
				var seq []Message
				for _, ov := range ovs[starts[i]:min(end, len(ovs))] {
					seq = append(seq, ov.Message)
				}
				t.Errorf("sides %d: segment %s: message %s, want %s (frames: %v; checks of first: %+v)", sides, sg.name, got, sg.want, seq, ovs[starts[i]].Checks)
			}
		}
		if len(caps) != sides {
			t.Fatalf("sides %d: %d captures, want %d", sides, len(caps), sides)
		}
		// The window is the first five steady frames; the fourth is the
		// only one not softened.
		for i, c := range caps {
			seg := len(segs) - 1 - 2*(sides-1-i)
			if want := starts[seg] + 3; c.Seq != want || c.Name != sideNames[i] {
				t.Errorf("sides %d: capture %d = %s frame %d, want %s frame %d", sides, i, c.Name, c.Seq, sideNames[i], want)
			}
			if c.Image.Cols() != 1280 || c.Image.Rows() != 720 {
				t.Errorf("capture %s is %dx%d", c.Name, c.Image.Cols(), c.Image.Rows())
			}
			c.Image.Close()
		}
		// Analysis stops at the frame that completes the last window; the
		// reader may have read a frame or two more by then.
		last := ovs[len(ovs)-1]
		if last.Captured != sideNames[sides-1] {
			t.Errorf("sides %d: last analysed frame captured %q", sides, last.Captured)
		}
		if !g.Done() || st.Analysed != last.Seq+1 || st.Seen != st.Analysed+st.Dropped || st.Dropped > 2 {
			t.Errorf("sides %d: done=%v stats %+v, want %d analysed", sides, g.Done(), st, last.Seq+1)
		}
		g.Close()
	}
}
