package central

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// sniffLen is how much of an image http.DetectContentType looks at.
const sniffLen = 512

// WriteImage writes one stored image to w a stored chunk at a time, as
// the store reads it, so an answer holds one chunk, never the image (up to
// protocol.MaxImageSize, and a submission has up to protocol.MaxImages).
//
// Before the first byte it calls start with the image's content type as
// http.DetectContentType sniffs it, so start can set the headers; an
// error start returns is returned as it is, nothing written. ErrNotFound
// when the image does not exist or has no byte. Once a byte is written an
// error can no longer become an error answer: a failure of the store or of
// w then, or an image of another size than size when size is positive
// (the Content-Length start may have promised), is returned wrapped in
// httpx.ErrCut, which cuts the connection off.
func WriteImage(ctx context.Context, st Store, w io.Writer, ref SubmissionRef, image string, size int64, start func(contentType string) error) error {
	var (
		head     = make([]byte, 0, sniffLen) // held until the sniffer has its bytes
		n        int64
		started  bool
		startErr error
	)
	begin := func() error {
		started = true
		if startErr = start(http.DetectContentType(head)); startErr != nil {
			return startErr
		}
		_, err := w.Write(head)
		return err
	}
	err := st.ImageChunks(ctx, ref.DeviceID, ref.Key, image, func(chunk []byte) error {
		if n += int64(len(chunk)); size > 0 && n > size {
			return fmt.Errorf("the store holds more than the image's %d bytes", size)
		}
		if !started {
			take := min(len(chunk), sniffLen-len(head))
			head, chunk = append(head, chunk[:take]...), chunk[take:]
			if len(head) < sniffLen {
				return nil
			}
			if err := begin(); err != nil {
				return err
			}
		}
		_, err := w.Write(chunk)
		return err
	})
	if err == nil && !started {
		if len(head) == 0 {
			return fmt.Errorf("reading the image: %w", ErrNotFound)
		}
		err = begin()
	}
	if err == nil && size > 0 && n != size {
		err = fmt.Errorf("the store holds %d of the image's %d bytes", n, size)
	}
	switch {
	case startErr != nil:
		return startErr
	case err != nil && !started:
		return fmt.Errorf("reading the image: %w", err)
	case err != nil:
		// The cause as text only: no caller may take it for ErrNotFound
		// and try to answer 404 after the 200.
		return fmt.Errorf("%w: writing the image: %v", httpx.ErrCut, err)
	}
	return nil
}

// WriteImageJSON writes one stored image to w as a JSON string, its bytes
// in standard base64 between quotes as encoding/json writes a []byte, a
// stored chunk at a time: WriteImage, whose size and errors it shares
// (ErrNotFound, nothing written, for an image without bytes). start, when
// not nil, runs before the opening quote, so a caller writes what comes
// before the string (a member's name) only for an image it writes; tee,
// when not nil, is given the image's bytes too (a digest). ImageJSONLen
// counts what it writes.
func WriteImageJSON(ctx context.Context, st Store, w io.Writer, tee io.Writer, ref SubmissionRef, image string, size int64, start func() error) error {
	b64 := base64.NewEncoder(base64.StdEncoding, w)
	raw := io.Writer(b64)
	if tee != nil {
		raw = io.MultiWriter(b64, tee)
	}
	err := WriteImage(ctx, st, raw, ref, image, size, func(string) error {
		if start != nil {
			if err := start(); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, `"`)
		return err
	})
	if err != nil {
		return err
	}
	if err := b64.Close(); err != nil {
		return fmt.Errorf("%w: writing the image: %v", httpx.ErrCut, err)
	}
	if _, err := io.WriteString(w, `"`); err != nil {
		return fmt.Errorf("%w: writing the image: %v", httpx.ErrCut, err)
	}
	return nil
}

// ImageJSONLen is how many bytes WriteImageJSON writes for an image of
// size bytes.
func ImageJSONLen(size int64) int64 {
	return int64(base64.StdEncoding.EncodedLen(int(size))) + 2
}

// errSniffed stops ImageContentType's read once it has its bytes.
var errSniffed = errors.New("central: image sniffed")

// ImageContentType is the content type of one stored image as
// http.DetectContentType sniffs its first bytes, the one WriteImage gives
// start, read without the rest of the image: for a caller that must know
// it before it writes anything (a length to announce). ErrNotFound when
// the image does not exist or has no byte.
func ImageContentType(ctx context.Context, st Store, ref SubmissionRef, image string) (string, error) {
	head := make([]byte, 0, sniffLen)
	err := st.ImageChunks(ctx, ref.DeviceID, ref.Key, image, func(chunk []byte) error {
		head = append(head, chunk[:min(len(chunk), sniffLen-len(head))]...)
		if len(head) == sniffLen {
			return errSniffed
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSniffed) {
		return "", fmt.Errorf("reading the image: %w", err)
	}
	if len(head) == 0 {
		return "", fmt.Errorf("reading the image: %w", ErrNotFound)
	}
	return http.DetectContentType(head), nil
}
