package push

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// writeEnvelope writes to w the envelope Seal gives for the plaintext
// that plain writes, as json.Marshal writes it, holding a segment of it
// at a time rather than the whole (a push carries its images, up to 32 of
// 64 MiB). The nonce is new for each call: a body written again may
// differ (an image dropped meanwhile), and GCM must never see a nonce
// twice. envelopeLen counts the same bytes.
func writeEnvelope(w io.Writer, key []byte, keyID, id, partnerID string, plain func(io.Writer) error) error {
	block, gcm, err := newBlockGCM(key)
	if err != nil {
		return err
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	head, err := envelopeHead(keyID, id, partnerID, nonce)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(head)
	b64 := base64.NewEncoder(base64.StdEncoding, bw)
	sw := newSealWriter(b64, block, gcm, nonce, AAD(id, partnerID))
	if err := plain(sw); err != nil {
		return err
	}
	if err := sw.Close(); err != nil {
		return fmt.Errorf("sealing the submission: %w", err)
	}
	b64.Close()
	bw.WriteString(envelopeTail)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the envelope: %w", err)
	}
	return nil
}

// envelopeLen is how many bytes writeEnvelope writes for a plaintext of
// plainLen bytes: the head, the base64 of the ciphertext and its tag, the
// tail.
func envelopeLen(keyID, id, partnerID string, plainLen int64) (int64, error) {
	head, err := envelopeHead(keyID, id, partnerID, make([]byte, nonceSize))
	if err != nil {
		return 0, err
	}
	sealed := base64.StdEncoding.EncodedLen(int(plainLen) + tagSize)
	return int64(len(head) + sealed + len(envelopeTail)), nil
}

// The sizes of GCM's standard nonce and tag, which newBlockGCM gives.
const (
	nonceSize = 12
	tagSize   = 16
)

// envelopeHead is the envelope as json.Marshal writes it up to its
// ciphertext's base64: its length does not depend on the nonce's bytes.
func envelopeHead(keyID, id, partnerID string, nonce []byte) ([]byte, error) {
	head, err := json.Marshal(Envelope{ID: id, PartnerID: partnerID, Alg: Alg, KeyID: keyID, Nonce: nonce})
	if err != nil {
		return nil, fmt.Errorf("encoding the envelope: %w", err)
	}
	head, ok := bytes.CutSuffix(head, []byte(`null}`))
	if !ok {
		return nil, errors.New("encoding the envelope: its ciphertext is not its last member")
	}
	return append(head, '"'), nil
}

// envelopeTail ends the envelope after its ciphertext's base64.
const envelopeTail = `"}`

// segmentSize is how much ciphertext sealWriter holds; a multiple of the
// 16-byte block.
const segmentSize = 64 << 10

// sealWriter encrypts what is written to it with AES-GCM under a 12-byte
// nonce and writes the ciphertext on, then at Close the 16-byte tag:
// together the bytes cipher.AEAD.Seal gives for the whole plaintext,
// without holding it.
//
// The standard library seals whole messages only. The ciphertext is
// AES-CTR from the counter block after J0 = nonce || 1 (what GCM encrypts
// with, NIST SP 800-38D 7.1); the tag is GHASH over the additional data and
// the ciphertext, masked with E(K, J0). GHASH is linear: for a segment of
// n blocks, state' = state * H^n + GHASH(segment). Each segment's GHASH
// comes from the library's own GCM (constant time, in hardware) sealing
// the plaintext whose ciphertext under a private nonce is that segment:
// the tag it gives, unmasked and without its length block, is the
// segment's GHASH times H. So only two multiplications in GF(2^128) per
// segment are done here, in constant time. Nothing of those private seals
// leaves the writer.
type sealWriter struct {
	w        io.Writer
	block    cipher.Block
	gcm      cipher.AEAD
	ctr      cipher.Stream // the message's key stream
	h, hSeg  gf128         // H, and H to the power of a segment's blocks
	acc      gf128         // the GHASH state so far, times H
	mask     gf128         // E(K, J0) of the message
	privMask gf128         // E(K, J0) of the private nonce
	aadLen   int
	n        int64  // ciphertext bytes
	seg      []byte // ciphertext of the segment being filled
	priv     []byte // the private seal's plaintext, then its output
}

// privNonce is the nonce of the private seals; what they give stays in
// the writer.
var privNonce = make([]byte, 12)

func newSealWriter(w io.Writer, block cipher.Block, gcm cipher.AEAD, nonce, aad []byte) *sealWriter {
	s := &sealWriter{w: w, block: block, gcm: gcm, aadLen: len(aad),
		seg: make([]byte, 0, segmentSize), priv: make([]byte, segmentSize+gcm.Overhead())}
	var zero [16]byte
	s.h = s.encrypt(zero[:])
	s.hSeg = s.h.pow(segmentSize / 16)
	s.mask = s.encrypt(counterBlock(nonce, 1))
	s.privMask = s.encrypt(counterBlock(privNonce, 1))
	s.ctr = cipher.NewCTR(block, counterBlock(nonce, 2))
	// The additional data's GHASH: a private seal of nothing.
	tag := gcm.Seal(s.priv[:0], privNonce, nil, aad)
	s.acc = load(tag).xor(s.privMask).xor(lengths(len(aad), 0).mul(s.h))
	return s
}

func counterBlock(nonce []byte, ctr uint32) []byte {
	b := make([]byte, 16)
	copy(b, nonce)
	binary.BigEndian.PutUint32(b[12:], ctr)
	return b
}

func (s *sealWriter) encrypt(in []byte) gf128 {
	var out [16]byte
	s.block.Encrypt(out[:], in)
	return load(out[:])
}

// Write encrypts p.
func (s *sealWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), segmentSize-len(s.seg))
		at := len(s.seg)
		s.seg = s.seg[:at+k]
		s.ctr.XORKeyStream(s.seg[at:], p[:k])
		p = p[k:]
		if len(s.seg) == segmentSize {
			if err := s.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flush writes the segment's ciphertext on and adds it to the GHASH.
func (s *sealWriter) flush() error {
	c := s.seg
	if len(c) == 0 {
		return nil
	}
	if _, err := s.w.Write(c); err != nil {
		return err
	}
	s.n += int64(len(c))
	// The plaintext whose ciphertext under the private nonce is c, sealed
	// under it: its tag is (GHASH(c) + lengths(0, len c)) * H + privMask.
	p := s.priv[:len(c)]
	cipher.NewCTR(s.block, counterBlock(privNonce, 2)).XORKeyStream(p, c)
	out := s.gcm.Seal(s.priv[:0], privNonce, p, nil)
	q := load(out[len(c):]).xor(s.privMask).xor(lengths(0, len(c)).mul(s.h))
	hn := s.hSeg
	if len(c) != segmentSize {
		hn = s.h.pow((len(c) + 15) / 16)
	}
	s.acc = s.acc.mul(hn).xor(q)
	s.seg = s.seg[:0]
	return nil
}

// Close writes the last ciphertext and the tag.
func (s *sealWriter) Close() error {
	if err := s.flush(); err != nil {
		return err
	}
	tag := s.acc.xor(lengthsBits(uint64(s.aadLen)*8, uint64(s.n)*8).mul(s.h)).xor(s.mask)
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], tag.hi)
	binary.BigEndian.PutUint64(b[8:], tag.lo)
	_, err := s.w.Write(b[:])
	return err
}

// gf128 is an element of GCM's GF(2^128): the 16 bytes of a block, big
// endian, bit 0 the most significant bit of hi.
type gf128 struct{ hi, lo uint64 }

func load(b []byte) gf128 {
	return gf128{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:16])}
}

func (x gf128) xor(y gf128) gf128 { return gf128{x.hi ^ y.hi, x.lo ^ y.lo} }

// mul is GCM's multiplication (NIST SP 800-38D, algorithm 1), without a
// branch or an index on either operand.
func (x gf128) mul(y gf128) gf128 {
	var z gf128
	v := y
	for i := range 128 {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		m := -bit
		z.hi ^= v.hi & m
		z.lo ^= v.lo & m
		r := -(v.lo & 1)
		v.lo = v.lo>>1 | v.hi<<63
		v.hi = v.hi>>1 ^ 0xe1<<56&r
	}
	return z
}

// pow is x to the power n > 0.
func (x gf128) pow(n int) gf128 {
	r := gf128{hi: 1 << 63} // one
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			r = r.mul(x)
		}
		x = x.mul(x)
	}
	return r
}

// lengths is GHASH's length block of aad and ciphertext lengths in bytes.
func lengths(aad, ct int) gf128 { return lengthsBits(uint64(aad)*8, uint64(ct)*8) }

func lengthsBits(aad, ct uint64) gf128 { return gf128{aad, ct} }
