package timing

import (
	"sync"
	"testing"
	"time"
)

func TestRecorderConcurrent(t *testing.T) {
	r := New()
	start := time.Now().Add(-1500 * time.Microsecond)
	var wg sync.WaitGroup
	for _, s := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Since(s, start)
		}()
	}
	wg.Wait()
	m := r.Map()
	if len(m) != 4 {
		t.Fatalf("recorded %v", m)
	}
	for k, v := range m {
		if v < 1.5 {
			t.Errorf("%s = %v ms, want at least 1.5", k, v)
		}
	}
}
