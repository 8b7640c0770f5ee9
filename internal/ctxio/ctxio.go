// Package ctxio stops a long copy (io.Copy, bbolt's Tx.WriteTo) once its
// context ends: a reader or writer that checks the context before each
// Read or Write. The copy then ends at the next call with the context's
// error, rather than running to the end of a large file after the caller
// has gone. A call already blocked is not interrupted; that is the
// underlying reader's or writer's deadline's job.
package ctxio

import (
	"context"
	"io"
)

// Reader returns r stopping at ctx's end: each Read returns ctx.Err(),
// reading nothing, once ctx is done. It offers only Read (no WriterTo), so
// io.Copy goes through it.
func Reader(ctx context.Context, r io.Reader) io.Reader {
	return reader{ctx, r}
}

// Writer returns w stopping at ctx's end: each Write returns ctx.Err(),
// writing nothing, once ctx is done. It offers only Write (no
// ReaderFrom), so io.Copy goes through it.
func Writer(ctx context.Context, w io.Writer) io.Writer {
	return writer{ctx, w}
}

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type writer struct {
	ctx context.Context
	w   io.Writer
}

func (c writer) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
