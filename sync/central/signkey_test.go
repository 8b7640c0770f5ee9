package central

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSignKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sign.key")
	k, err := LoadOrCreateSignKey(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSignKey(path)
	if err != nil || !again.Equal(k) {
		t.Fatalf("reloaded key differs: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v, want mode 0600", fi, err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSignKey(path); !errors.Is(err, ErrBadSignKey) {
		t.Errorf("group-readable key file: %v, want ErrBadSignKey", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte(boxKeyMagic+"AAAA\n"), 0o600)
	if _, err := LoadOrCreateSignKey(bad); !errors.Is(err, ErrBadSignKey) {
		t.Errorf("a box key as sign key: %v, want ErrBadSignKey", err)
	}
}

// TestChallenge: a challenge opens only for the device it was issued to,
// under the key of the central that issued it, unaltered.
func TestChallenge(t *testing.T) {
	k1, _ := GenerateSignKey()
	k2, _ := GenerateSignKey()
	c1, c2 := newChallenger(k1), newChallenger(k2)
	at := time.UnixMilli(time.Now().UnixMilli())
	ch := c1.Issue("dev-a", at)
	if got, ok := c1.Open("dev-a", ch); !ok || !got.Equal(at) {
		t.Fatalf("Open = %v %v, want %v", got, ok, at)
	}
	flipped := []byte(ch)
	flipped[3] ^= 1
	for name, tc := range map[string]struct {
		c   challenger
		dev string
		ch  string
	}{
		"another device":  {c1, "dev-b", ch},
		"another central": {c2, "dev-a", ch},
		"altered":         {c1, "dev-a", string(flipped)},
		"empty":           {c1, "dev-a", ""},
		"garbage":         {c1, "dev-a", "!!!"},
	} {
		if _, ok := tc.c.Open(tc.dev, tc.ch); ok {
			t.Errorf("%s: challenge opened", name)
		}
	}
}
