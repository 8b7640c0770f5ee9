package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
)

// captureResult is what `kyc capture` prints.
type captureResult struct {
	Source   source.Info    `json:"source"`
	Mode     string         `json:"mode"`
	Complete bool           `json:"complete"` // everything wanted was captured
	Captured []capturedFile `json:"captured"`
	Messages []messageCount `json:"messages"` // in order of first appearance
	capture.Stats
	Last *capture.Overlay `json:"last_overlay,omitempty"`
}

type capturedFile struct {
	Name   string          `json:"name"`
	File   string          `json:"file"`
	Frame  int             `json:"frame"`
	Score  float64         `json:"score"`
	Checks []capture.Check `json:"checks"`
}

type messageCount struct {
	Key   capture.Message `json:"key"`
	Text  string          `json:"text"`
	Count int             `json:"count"`
}

func runCapture(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "capture")
	src := fs.String("source", "", "camera index or /dev/videoN, rtsp:// or http(s):// stream, video file, or image folder")
	mode := fs.String("mode", "document", "document or selfie")
	out := fs.String("out", "", "folder the captured JPEGs are written to")
	sides := fs.Int("sides", 1, "document sides to capture: 1, or 2 for front and back")
	lang := fs.String("lang", "en", "message language: en or id")
	challenges := fs.String("challenges", "", "selfie: comma-separated active challenges (turn_left,turn_right,blink,smile)")
	width := fs.Int("width", 0, "camera: requested frame width")
	height := fs.Int("height", 0, "camera: requested frame height")
	fps := fs.Float64("fps", 0, "camera: requested frame rate; image folder: its nominal rate")
	realtime := fs.Bool("realtime", false, "play files and folders at their frame rate, dropping frames as a camera would (default: analyse every frame)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	l, err := capture.ParseLang(*lang)
	if err != nil {
		return nil, Errorf(ExitUsage, "usage", "--lang: %v", err)
	}
	if *out == "" {
		return nil, Errorf(ExitUsage, "usage", "--out is required")
	}
	spec, err := source.Parse(*src)
	if err != nil {
		return nil, Errorf(ExitUsage, "usage", "--source: %v", err)
	}
	var g capture.Guide
	switch *mode {
	case "document":
		cfg := capture.DefaultDocumentConfig()
		cfg.Sides = *sides
		dg, err := capture.NewDocumentGuide(cfg)
		if err != nil {
			return nil, Errorf(ExitUsage, "usage", "%v", err)
		}
		g = dg
	case "selfie":
		cfg := capture.DefaultSelfieConfig()
		for _, c := range strings.Split(*challenges, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			ch, err := capture.ParseChallenge(c)
			if err != nil {
				return nil, Errorf(ExitUsage, "usage", "--challenges: %v", err)
			}
			cfg.Challenges = append(cfg.Challenges, ch)
		}
		det, err := openYuNet()
		if err != nil {
			return nil, err
		}
		defer det.Close()
		sg, err := capture.NewSelfieGuide(det, cfg)
		if err != nil {
			return nil, Errorf(ExitUsage, "usage", "%v", err)
		}
		g = sg
	default:
		return nil, Errorf(ExitUsage, "usage", "--mode %q: want document or selfie", *mode)
	}
	defer g.Close()
	// Captures are faces and identity documents: the folder is the
	// operator's alone, as the files in it are (0600).
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", *out, err)
	}
	opt := source.Options{Width: *width, Height: *height, FPS: *fps}
	open := func(ctx context.Context) (source.Source, error) { return source.Open(ctx, spec, opt) }
	var s source.Source
	if spec.Kind.Live() {
		s, err = source.NewReconnecting(ctx, open, source.DefaultBackoff)
	} else {
		s, err = open(ctx)
	}
	if e := noCamera(err); e != nil {
		return nil, e
	} else if err != nil {
		return nil, Errorf(ExitUnavailable, "source_unavailable", "%v", err)
	}
	defer s.Close()

	res := captureResult{Source: s.Info(), Mode: *mode, Captured: []capturedFile{}, Messages: []messageCount{}}
	index := map[capture.Message]int{}
	var last capture.Overlay
	ropt := capture.Options{
		EveryFrame: !*realtime,
		Pace:       *realtime,
		OnFrame: func(_ capture.Frame, ov capture.Overlay) {
			i, ok := index[ov.Message]
			if !ok {
				i = len(res.Messages)
				index[ov.Message] = i
				res.Messages = append(res.Messages, messageCount{Key: ov.Message, Text: ov.Message.Text(l)})
			}
			res.Messages[i].Count++
			last = ov
		},
		OnState: func(st source.State) { fmt.Fprintf(env.Stderr, "source %s\n", st) },
	}
	stats, runErr := capture.Run(ctx, s, g, ropt)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return nil, runErr
	}
	for _, c := range g.Captures() {
		path := filepath.Join(*out, c.Name+".jpg")
		err := capture.SaveJPEG(path, c.Image)
		c.Image.Close()
		if err != nil {
			return nil, err
		}
		res.Captured = append(res.Captured, capturedFile{Name: c.Name, File: path, Frame: c.Seq, Score: c.Score, Checks: c.Checks})
	}
	res.Complete = g.Done()
	res.Stats = stats
	if stats.Analysed > 0 {
		res.Last = &last
	}
	return res, nil
}

// openYuNet loads the installed face detector, one thread: guidance shares
// the machine with the camera and the UI.
func openYuNet() (*face.YuNet, error) {
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		return nil, err
	}
	p, err := store.Path("yunet")
	if err != nil {
		return nil, err
	}
	return face.NewYuNet(p, face.YuNetConfig{}, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
}
