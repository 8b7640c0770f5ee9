package app

import (
	"context"
	"encoding/base64"
	"image"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
)

// previewWidth is the width of the JPEG frames sent to the page: enough for
// a live preview, small enough to encode and ship at the camera's rate.
const previewWidth = 640

// FrameView is one live preview frame and the guidance over it. The overlay
// is in the camera frame's pixels (Width x Height); the page scales it.
type FrameView struct {
	Seq     int              `json:"seq"`
	JPEG    string           `json:"jpeg"` // a data: URL
	Width   int              `json:"width"`
	Height  int              `json:"height"`
	Overlay *capture.Overlay `json:"overlay,omitempty"`
	Message string           `json:"message"` // the overlay's message in the session's language
	// Hint is the overlay's advice that does not hold the capture back
	// (bright or dim light, hold the phone upright), in the same language.
	Hint string  `json:"hint,omitempty"`
	FPS  float64 `json:"fps"`  // preview frames per second, measured
	Live bool    `json:"live"` // false once the capture has stopped
}

// preview holds the newest frame and overlay; readers wait for a newer one.
type preview struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	frame   FrameView
	times   []time.Time // recent frame times, for the rate
}

func newPreview() *preview {
	return &preview{changed: make(chan struct{})}
}

func (p *preview) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// publishFrame encodes img small and makes it the newest frame.
func (p *preview) publishFrame(img gocv.Mat) {
	if img.Empty() {
		return
	}
	small := gocv.NewMat()
	defer small.Close()
	h := img.Rows() * previewWidth / img.Cols()
	gocv.Resize(img, &small, image.Pt(previewWidth, h), 0, 0, gocv.InterpolationArea)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, small, []int{gocv.IMWriteJpegQuality, 75})
	if err != nil {
		return // a frame the encoder refuses is skipped, as a camera drops one
	}
	url := "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.GetBytes())
	buf.Close()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.times = append(p.times, now)
	for len(p.times) > 1 && now.Sub(p.times[0]) > 2*time.Second {
		p.times = p.times[1:]
	}
	p.frame.Seq++
	p.frame.JPEG, p.frame.Width, p.frame.Height, p.frame.Live = url, img.Cols(), img.Rows(), true
	if n := len(p.times); n > 1 {
		p.frame.FPS = float64(n-1) / p.times[n-1].Sub(p.times[0]).Seconds()
	}
	p.notify()
}

// publishOverlay attaches the newest analysis, its words in lang, to the
// frames that follow.
func (p *preview) publishOverlay(ov capture.Overlay, lang capture.Lang) {
	hint := ""
	if ov.Hint != "" {
		hint = ov.Hint.Text(lang)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frame.Overlay, p.frame.Message, p.frame.Hint = &ov, ov.Message.Text(lang), hint
}

// stop marks the preview ended and drops the last picture.
func (p *preview) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frame = FrameView{Seq: p.frame.Seq + 1}
	p.times = nil
	p.notify()
}

// next returns the first frame newer than after, waiting up to wait.
func (p *preview) next(ctx context.Context, after int, wait time.Duration) FrameView {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		f, ch := p.frame, p.changed
		p.mu.Unlock()
		if f.Seq > after {
			return f
		}
		select {
		case <-ch:
		case <-timer.C:
			return f
		case <-ctx.Done():
			return f
		}
	}
}

// previewSource shows every frame a source delivers, before and
// independent of the analysis, so the preview runs at the camera's rate.
type previewSource struct {
	source.Source
	p *preview
}

func (s previewSource) Read(ctx context.Context, dst *gocv.Mat) error {
	err := s.Source.Read(ctx, dst)
	if err == nil {
		s.p.publishFrame(*dst)
	}
	return err
}
