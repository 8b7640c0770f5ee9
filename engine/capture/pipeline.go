package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/internal/timing"
)

// Guide analyses frames and captures the ones it wants.
type Guide interface {
	// Analyse examines one frame and returns its overlay.
	Analyse(ctx context.Context, f Frame) (Overlay, error)
	// Done reports whether everything the guide wants is captured.
	Done() bool
	// Captures hands over the captures made so far; the caller owns them.
	Captures() []Capture
	// Close releases the frames the guide holds.
	Close() error
}

// Options tune a Run.
type Options struct {
	// EveryFrame makes the reader wait for the analysis, so every frame is
	// analysed: deterministic runs over files. Live sources ignore it: a
	// camera cannot be made to wait.
	EveryFrame bool
	// Pace delivers a file's or folder's frames at its frame rate, as a
	// camera would, so analysis that falls behind drops frames.
	Pace bool
	// OnFrame is called on the analysis goroutine after each analysed frame;
	// the frame is valid only during the call.
	OnFrame func(Frame, Overlay)
	// OnState is called from the reader goroutine when a reconnecting
	// source goes down or comes back.
	OnState func(source.State)
}

// Stats describe a Run. Seen = Analysed + Dropped.
type Stats struct {
	Seen        int     `json:"frames_seen"`
	Analysed    int     `json:"frames_analysed"`
	Dropped     int     `json:"frames_dropped"`
	Disconnects int     `json:"disconnects"`
	ElapsedMS   float64 `json:"elapsed_ms"`
	FPS         float64 `json:"fps"`        // analysed frames per second of wall time
	SourceFPS   float64 `json:"source_fps"` // frames delivered per second of wall time
}

// Run reads src and analyses frames with g until g is done, a finite source
// ends, or ctx is cancelled (which returns ctx's error with the stats so
// far). A reader goroutine keeps only the newest frame, so a slow analysis
// drops frames instead of stalling the camera. Both goroutines have ended
// when Run returns.
func Run(ctx context.Context, src source.Source, g Guide, opt Options) (Stats, error) {
	info := src.Info()
	everyFrame := opt.EveryFrame && !info.Kind.Live()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frames := make(chan Frame, 1)
	var (
		wg      sync.WaitGroup
		rs      readerStats
		readErr error
	)
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(frames)
		readErr = read(ctx, src, frames, everyFrame, opt, start, &rs)
	}()
	var st Stats
	var runErr error
	for f := range frames {
		if runErr != nil || g.Done() {
			f.Image.Close()
			st.Dropped++
			continue
		}
		ov, err := g.Analyse(ctx, f)
		st.Analysed++
		if err != nil {
			runErr = fmt.Errorf("analysing frame %d: %w", f.Seq, err)
		} else if opt.OnFrame != nil {
			opt.OnFrame(f, ov)
		}
		f.Image.Close()
		if runErr != nil || g.Done() {
			cancel() // stop the reader; the loop drains what it still sends
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	st.Seen, st.Dropped, st.Disconnects = rs.seen, st.Dropped+rs.dropped, rs.disconnects
	st.ElapsedMS = float64(elapsed.Microseconds()) / 1000
	if s := elapsed.Seconds(); s > 0 {
		st.FPS, st.SourceFPS = float64(st.Analysed)/s, float64(st.Seen)/s
	}
	switch {
	case runErr != nil:
		return st, runErr
	case g.Done():
		return st, nil
	case readErr != nil && !errors.Is(readErr, io.EOF):
		return st, readErr
	}
	return st, nil
}

type readerStats struct {
	seen, dropped, disconnects int
}

// read feeds frames until the source ends, fails, or ctx is cancelled.
func read(ctx context.Context, src source.Source, out chan Frame, everyFrame bool, opt Options, start time.Time, rs *readerStats) error {
	info := src.Info()
	state := source.StateConnected
	setState := func(s source.State) {
		if s == state {
			return
		}
		state = s
		if s == source.StateDisconnected {
			rs.disconnects++
		}
		if opt.OnState != nil {
			opt.OnState(s)
		}
	}
	for seq := 0; ; {
		if opt.Pace && !info.Kind.Live() && info.FPS > 0 {
			due := start.Add(time.Duration(float64(seq) / info.FPS * float64(time.Second)))
			if err := timing.SleepUntil(ctx, due); err != nil {
				return err
			}
		}
		img := gocv.NewMat()
		err := src.Read(ctx, &img)
		if errors.Is(err, source.ErrDisconnected) {
			img.Close()
			setState(source.StateDisconnected)
			continue
		}
		if err != nil {
			img.Close()
			return err
		}
		setState(source.StateConnected)
		// A stream may change its frames' size as it goes, past what its
		// start declared (source.Open checks that).
		if err := source.CheckFrameSize(img.Cols(), img.Rows()); err != nil {
			img.Close()
			return fmt.Errorf("frame %d of %s: %w", seq, info.Name, err)
		}
		f := Frame{Seq: seq, Image: img, Time: time.Since(start)}
		if !info.Kind.Live() && info.FPS > 0 {
			f.Time = time.Duration(float64(seq) / info.FPS * float64(time.Second))
		}
		seq++
		rs.seen++
		if everyFrame {
			select {
			case out <- f:
			case <-ctx.Done():
				img.Close()
				rs.dropped++
				return ctx.Err()
			}
			continue
		}
		// Only this goroutine sends, so after taking out a stale frame the
		// send cannot block.
		select {
		case out <- f:
		default:
			select {
			case old := <-out:
				old.Image.Close()
				rs.dropped++
			default:
			}
			out <- f
		}
	}
}
