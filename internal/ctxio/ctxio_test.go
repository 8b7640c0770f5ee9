package ctxio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/ctxio"
)

// chunks is a source of size bytes read at most 4 KiB at a time; it calls
// after (if set) with the count of Reads so far once each returns.
type chunks struct {
	left  int
	reads int
	after func(reads int)
}

func (c *chunks) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), 4<<10, c.left)
	c.left -= n
	c.reads++
	if c.after != nil {
		c.after(c.reads)
	}
	return n, nil
}

// TestCopyStopsAtContextEnd copies 1 MiB through Reader and through Writer:
// the whole of it while the context lives, nothing once it has ended, and
// no more once it ends part way (canceled or past its deadline), with the
// context's error.
func TestCopyStopsAtContextEnd(t *testing.T) {
	const size = 1 << 20
	wraps := []struct {
		name string
		copy func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error)
	}{
		{"Reader", func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			return io.Copy(dst, ctxio.Reader(ctx, src))
		}},
		{"Writer", func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			return io.Copy(ctxio.Writer(ctx, dst), src)
		}},
	}
	tests := []struct {
		name     string
		endAfter int // the source's Reads after which the context ends; 0 before the copy, -1 never
		deadline bool
		want     error
	}{
		{"context lives", -1, false, nil},
		{"canceled before", 0, false, context.Canceled},
		{"canceled part way", 3, false, context.Canceled},
		{"deadline passed before", 0, true, context.DeadlineExceeded},
	}
	for _, w := range wraps {
		for _, tt := range tests {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				parent := context.Background()
				if tt.deadline {
					var stop context.CancelFunc
					parent, stop = context.WithDeadline(parent, time.Now().Add(-time.Second))
					defer stop()
				}
				ctx, cancel := context.WithCancel(parent)
				defer cancel()
				src := &chunks{left: size}
				switch tt.endAfter {
				case -1:
				case 0:
					cancel()
				default:
					src.after = func(reads int) {
						if reads == tt.endAfter {
							cancel()
						}
					}
				}
				var dst bytes.Buffer
				n, err := w.copy(ctx, &dst, src)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("copy: %v, want %v", err, tt.want)
				}
				if n != int64(dst.Len()) {
					t.Errorf("copy says %d bytes, the destination has %d", n, dst.Len())
				}
				switch {
				case tt.want == nil && n != size:
					t.Errorf("copied %d bytes of %d while the context lived", n, size)
				case tt.endAfter == 0 && n != 0:
					t.Errorf("copied %d bytes after the context ended", n)
				case tt.endAfter > 0 && (n == 0 || n > int64(tt.endAfter)*4<<10 || src.reads > tt.endAfter+1):
					t.Errorf("copied %d bytes in %d reads once the context ended after %d; want the copy stopped there", n, src.reads, tt.endAfter)
				}
			})
		}
	}
}
