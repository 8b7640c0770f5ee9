package centraltest

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// StoreSubmission stores sub, complete, with the images (named in its
// manifest in sorted order), each in chunks of at most chunk bytes, as
// central's ingest does, and returns its ref.
func StoreSubmission(tb testing.TB, st central.Store, sub central.Submission, imgs map[string][]byte, chunk int) central.SubmissionRef {
	tb.Helper()
	ctx := context.Background()
	names := slices.Sorted(maps.Keys(imgs))
	sub.Images = nil
	for _, name := range names {
		h := sha256.Sum256(imgs[name])
		sub.Images = append(sub.Images, central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: name, Size: int64(len(imgs[name])), SHA256: h[:], Key: make([]byte, 32)}})
	}
	if _, _, err := st.BeginSubmission(ctx, sub); err != nil {
		tb.Fatal(err)
	}
	for _, name := range names {
		for off := 0; off < len(imgs[name]); off += chunk {
			c := central.Chunk{DeviceID: sub.DeviceID, Key: sub.Key, Image: name, Offset: int64(off), Data: imgs[name][off:min(off+chunk, len(imgs[name]))], At: sub.ReceivedAt}
			if _, err := st.AppendChunk(ctx, c); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
}

// FailingImages is a store whose ImageChunks, while Fail is set, yields
// the first half of an image's first chunk and then fails, as a disk or a
// database dying during a read: for tests of answers cut off midway.
type FailingImages struct {
	central.Store
	Fail *atomic.Bool
}

// ImageChunks implements central.Store.
func (s FailingImages) ImageChunks(ctx context.Context, deviceID, key, image string, yield func([]byte) error) error {
	if !s.Fail.Load() {
		return s.Store.ImageChunks(ctx, deviceID, key, image, yield)
	}
	return s.Store.ImageChunks(ctx, deviceID, key, image, func(chunk []byte) error {
		if err := yield(chunk[:len(chunk)/2]); err != nil {
			return err
		}
		return errors.New("the disk failed")
	})
}
