package vault

import (
	"encoding/binary"
	"fmt"
	"os"

	"go.etcd.io/bbolt"
)

// bbolt's page layout (go.etcd.io/bbolt/internal/common): a 16-byte header
// (id, flags, count, overflow) and count 16-byte elements; an element's
// key starts pos bytes after the element itself, its value right after
// the key. A bucket's value is its root page id and sequence, followed,
// when the root id is 0, by the bucket's one page inline.
const (
	pageHeaderSize = 16
	elementSize    = 16
	branchPage     = 0x01
	leafPage       = 0x02
	bucketElement  = 0x01
	bucketHeader   = 16
)

// maxTreeDepth bounds how deep pages may nest, buckets in buckets
// included: a B+tree of 4 KB pages holds more keys than a disk at a few
// levels, so a deeper one is a damaged file.
const maxTreeDepth = 64

// checkTree walks the pages of every bucket, nested and inline ones too,
// from the root bucket's, and refuses as ErrCorrupt a page that leads back
// to one above it, or pages nested deeper than maxTreeDepth. bbolt follows
// a branch page's child ids as they are: a damaged one that leads back to
// itself or an ancestor recurses until the stack overflows, or loops,
// growing its cursor's stack, until memory runs out; neither is a panic
// guarded can turn into an error. Any other damage (a page id past the
// file, a header or element that does not add up) is left to the read
// that meets it, which guarded turns into ErrCorrupt: the rest of the
// vault still opens. Only the elements are read, and a bucket's own
// value, so the walk costs a small read a page, not the file.
func checkTree(db *bbolt.DB) error {
	f, err := os.Open(db.Path())
	if err != nil {
		return fmt.Errorf("checking the file's pages: %w", err)
	}
	defer f.Close()
	ps := int64(db.Info().PageSize)
	return db.View(func(tx *bbolt.Tx) error {
		c := treeCheck{f: f, ps: ps, high: uint64(tx.Size() / ps), onPath: map[uint64]bool{}, done: map[uint64]bool{}}
		return c.stored(uint64(tx.Cursor().Bucket().Root()), 0)
	})
}

type treeCheck struct {
	f            *os.File
	ps           int64
	high         uint64 // the pages the last commit uses
	onPath, done map[uint64]bool
}

// pageBytes is a page to read: stored in the file at base, or inline (a
// bucket's one page inside its value); extent bytes long.
type pageBytes struct {
	base   int64
	extent int64
	inline []byte
}

// read returns n bytes at off in p; ok is false when they run past its end.
func (c *treeCheck) read(p pageBytes, off, n int64) (b []byte, ok bool) {
	if off < 0 || n < 0 || off+n > p.extent {
		return nil, false
	}
	if p.inline != nil {
		return p.inline[off : off+n], true
	}
	b = make([]byte, n)
	_, err := c.f.ReadAt(b, p.base+off)
	return b, err == nil
}

// stored walks the tree under the stored page id at depth.
func (c *treeCheck) stored(id uint64, depth int) error {
	switch {
	case c.onPath[id]:
		return fmt.Errorf("%w: page %d leads back to itself", ErrCorrupt, id)
	case c.done[id] || id < 2 || id >= c.high:
		return nil
	}
	p := pageBytes{base: int64(id) * c.ps, extent: c.ps}
	h, ok := c.read(p, 0, pageHeaderSize)
	if !ok || binary.LittleEndian.Uint64(h) != id {
		return nil
	}
	if overflow := uint64(binary.LittleEndian.Uint32(h[12:])); id+overflow < c.high {
		p.extent = int64(overflow+1) * c.ps
	}
	c.onPath[id], c.done[id] = true, true
	defer delete(c.onPath, id)
	return c.page(p, depth)
}

// page walks the pages p refers to: a branch page's children, a leaf
// page's buckets.
func (c *treeCheck) page(p pageBytes, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: pages nested more than %d deep", ErrCorrupt, maxTreeDepth)
	}
	h, ok := c.read(p, 0, pageHeaderSize)
	if !ok {
		return nil
	}
	flags, n := binary.LittleEndian.Uint16(h[8:]), int64(binary.LittleEndian.Uint16(h[10:]))
	elems, ok := c.read(p, pageHeaderSize, n*elementSize)
	if !ok {
		return nil
	}
	for i := range n {
		e := elems[i*elementSize : (i+1)*elementSize]
		var err error
		switch {
		case flags == branchPage:
			err = c.stored(binary.LittleEndian.Uint64(e[8:]), depth+1)
		case flags == leafPage && binary.LittleEndian.Uint32(e)&bucketElement != 0:
			at := pageHeaderSize + i*elementSize + int64(binary.LittleEndian.Uint32(e[4:])) + int64(binary.LittleEndian.Uint32(e[8:]))
			v, ok := c.read(p, at, int64(binary.LittleEndian.Uint32(e[12:])))
			switch {
			case !ok || len(v) < bucketHeader:
			case binary.LittleEndian.Uint64(v) != 0:
				err = c.stored(binary.LittleEndian.Uint64(v), depth+1)
			default:
				in := v[bucketHeader:]
				err = c.page(pageBytes{inline: in, extent: int64(len(in))}, depth+1)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
