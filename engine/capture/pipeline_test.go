package capture

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/imageio"
)

// camera is a fake live source delivering n frames at fps; reads fail from
// read failFrom until failUntil (a cable pulled and put back).
type camera struct {
	n, read             int
	fps                 float64
	failFrom, failUntil int
}

func (c *camera) Info() source.Info {
	return source.Info{Kind: source.KindDevice, Name: "fake", Width: 16, Height: 16, FPS: c.fps}
}

func (c *camera) Read(ctx context.Context, dst *gocv.Mat) error {
	c.read++
	if c.read > c.n {
		return io.EOF
	}
	time.Sleep(time.Duration(float64(time.Second) / c.fps))
	if c.read >= c.failFrom && c.read < c.failUntil {
		return source.ErrReadFailed
	}
	m := gocv.NewMatWithSize(16, 16, gocv.MatTypeCV8UC3)
	defer m.Close()
	m.CopyTo(dst)
	return ctx.Err()
}

func (c *camera) Close() error { return nil }

// slowGuide takes a fixed time per frame and is done after limit frames
// (never when limit is 0).
type slowGuide struct {
	delay time.Duration
	limit int
	seqs  []int
}

func (g *slowGuide) Analyse(ctx context.Context, f Frame) (Overlay, error) {
	time.Sleep(g.delay)
	g.seqs = append(g.seqs, f.Seq)
	return Overlay{Seq: f.Seq, Message: HoldSteady}, nil
}
func (g *slowGuide) Done() bool          { return g.limit > 0 && len(g.seqs) >= g.limit }
func (g *slowGuide) Captures() []Capture { return nil }
func (g *slowGuide) Close() error        { return nil }

func TestRunDropsWhenBehind(t *testing.T) {
	cam := &camera{n: 40, fps: 200}
	g := &slowGuide{delay: 20 * time.Millisecond}
	st, err := Run(context.Background(), cam, g, Options{EveryFrame: true}) // live: EveryFrame is ignored
	if err != nil {
		t.Fatal(err)
	}
	if st.Seen != 40 || st.Analysed+st.Dropped != st.Seen || st.Dropped < 20 {
		t.Errorf("stats %+v: want 40 seen, most dropped", st)
	}
	for i := 1; i < len(g.seqs); i++ {
		if g.seqs[i] <= g.seqs[i-1] {
			t.Errorf("frames analysed out of order: %v", g.seqs)
		}
	}
	if st.FPS <= 0 || st.FPS > st.SourceFPS {
		t.Errorf("fps %.1f, source fps %.1f", st.FPS, st.SourceFPS)
	}
}

func TestRunReportsDisconnect(t *testing.T) {
	cam := &camera{n: 30, fps: 500, failFrom: 10, failUntil: 15}
	// The fake keeps its read count across reopenings: the same camera,
	// unplugged for five reads.
	open := func(context.Context) (source.Source, error) { return cam, nil }
	src, err := source.NewReconnecting(context.Background(), open, source.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var states []source.State
	st, err := Run(context.Background(), src, &slowGuide{}, Options{OnState: func(s source.State) { states = append(states, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Disconnects != 1 || len(states) != 2 || states[0] != source.StateDisconnected || states[1] != source.StateConnected {
		t.Errorf("disconnects %d, states %v", st.Disconnects, states)
	}
	if st.Seen != 25 {
		t.Errorf("seen %d frames, want 25 (30 less 5 lost)", st.Seen)
	}
}

func TestRunCancel(t *testing.T) {
	cam := &camera{n: 1 << 30, fps: 1000}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	var err error
	go func() {
		_, err = Run(ctx, cam, &slowGuide{delay: time.Millisecond}, Options{})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
}

func TestRunStopsWhenDone(t *testing.T) {
	cam := &camera{n: 1000, fps: 1000}
	g := &slowGuide{limit: 3}
	st, err := Run(context.Background(), cam, g, Options{})
	if err != nil || st.Analysed != 3 || st.Seen > 20 {
		t.Errorf("stats %+v, err %v: want to stop after 3 analysed", st, err)
	}
}

// sized is a fake file source of frames of the sizes given, one a read.
type sized struct {
	sizes [][2]int
	read  int
}

func (s *sized) Info() source.Info {
	return source.Info{Kind: source.KindFile, Name: "fake", Width: 16, Height: 16, FPS: 10}
}

func (s *sized) Read(ctx context.Context, dst *gocv.Mat) error {
	if s.read >= len(s.sizes) {
		return io.EOF
	}
	w, h := s.sizes[s.read][0], s.sizes[s.read][1]
	s.read++
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer m.Close()
	m.CopyTo(dst)
	return nil
}

func (s *sized) Close() error { return nil }

// TestRunRefusesHugeFrames: a frame larger than a still image may be (a
// stream whose frames grow after its start) ends the run with
// imageio.ErrTooLarge before any guide keeps copies of it.
func TestRunRefusesHugeFrames(t *testing.T) {
	for _, c := range []struct {
		name     string
		size     [2]int
		analysed int
	}{
		{"as large as allowed", [2]int{8000, 5000}, 2},
		{"a pixel over", [2]int{8000, 5001}, 1},
		{"a side over", [2]int{imageio.MaxSide + 1, 1}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &slowGuide{}
			st, err := Run(context.Background(), &sized{sizes: [][2]int{{16, 16}, c.size}}, g, Options{EveryFrame: true})
			if tooLarge := c.analysed < 2; errors.Is(err, imageio.ErrTooLarge) != tooLarge || !tooLarge && err != nil {
				t.Fatalf("Run = %v, want ErrTooLarge %v", err, tooLarge)
			}
			if st.Analysed != c.analysed {
				t.Errorf("analysed %d frames, want %d", st.Analysed, c.analysed)
			}
		})
	}
}
