package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// TestSealWriter checks that sealWriter writes the bytes cipher.AEAD.Seal
// gives for the whole plaintext, whatever its length (around the segment
// and the block), the additional data's and how the writes split it.
func TestSealWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key := make([]byte, 32)
	rand.NewChaCha8([32]byte{1}).Read(key)
	block, gcm, err := newBlockGCM(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 3*segmentSize+100)
	rand.NewChaCha8([32]byte{2}).Read(plain)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, segmentSize - 1, segmentSize, segmentSize + 1, 2*segmentSize + 16, 3*segmentSize + 100} {
		for _, aadLen := range []int{0, 1, 16, 45} {
			t.Run(fmt.Sprintf("%d bytes, %d of additional data", n, aadLen), func(t *testing.T) {
				nonce, aad := make([]byte, 12), make([]byte, aadLen)
				rand.NewChaCha8([32]byte{byte(n), byte(aadLen)}).Read(nonce)
				rand.NewChaCha8([32]byte{3}).Read(aad)
				want := gcm.Seal(nil, nonce, plain[:n], aad)
				var got bytes.Buffer
				sw := newSealWriter(&got, block, gcm, nonce, aad)
				for p := plain[:n]; len(p) > 0; {
					k := min(len(p), 1+rng.IntN(2*segmentSize/3))
					if _, err := sw.Write(p[:k]); err != nil {
						t.Fatal(err)
					}
					p = p[k:]
				}
				if err := sw.Close(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("sealWriter wrote %d bytes that differ from Seal's %d (tag %x, want %x)",
						got.Len(), len(want), got.Bytes()[max(0, got.Len()-16):], want[len(want)-16:])
				}
			})
		}
	}
}

// TestWriteEnvelope checks that writeEnvelope writes what json.Marshal
// gives for Seal's envelope, which Open opens.
func TestWriteEnvelope(t *testing.T) {
	key := make([]byte, 32)
	rand.NewChaCha8([32]byte{1}).Read(key)
	plain := bytes.Repeat([]byte(`{"hello":"partner"}`), 5000)
	var got bytes.Buffer
	if err := writeEnvelope(&got, key, "pek_1", "psh_1", "ptn_1", func(w io.Writer) error {
		_, err := w.Write(plain)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := envelopeLen("pek_1", "psh_1", "ptn_1", int64(len(plain))); err != nil || n != int64(got.Len()) {
		t.Errorf("envelopeLen = %d, %v; writeEnvelope wrote %d bytes", n, err, got.Len())
	}
	var env Envelope
	if err := json.Unmarshal(got.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	opened, err := Open(key, env)
	if err != nil || !bytes.Equal(opened, plain) {
		t.Fatalf("Open = %d bytes, %v", len(opened), err)
	}
	want, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("writeEnvelope wrote\n%.200s\nwant json.Marshal's\n%.200s", got.Bytes(), want)
	}
}

// TestLengthWriter checks that lengthWriter passes on an envelope of the
// announced length whole, and of any other length never its last byte
// (nor anything past the length), ending with errChanged.
func TestLengthWriter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		left    int // announced
		writes  []string
		want    string // what passes on
		changed bool
	}{
		{"exact", 9, []string{`{"a":`, "", `"b"}`}, `{"a":"b"}`, false},
		{"exact in one write", 9, []string{`{"a":"b"}`}, `{"a":"b"}`, false},
		{"short", 10, []string{`{"a":`, `"b"}`}, `{"a":"b"`, true},
		{"long", 9, []string{`{"a":`, `"b"`, `, "c":"d"}`}, `{"a":"b`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			lw := &lengthWriter{w: &out, left: int64(tc.left)}
			var werr error
			for _, w := range tc.writes {
				if _, werr = lw.Write([]byte(w)); werr != nil {
					break
				}
			}
			err := lw.end(werr)
			if out.String() != tc.want || errors.Is(err, errChanged) != tc.changed || (err != nil) != tc.changed {
				t.Errorf("passed on %q, end: %v; want %q, changed %v", out.String(), err, tc.want, tc.changed)
			}
		})
	}
}
