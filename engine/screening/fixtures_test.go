package screening

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
)

// The bench list takes a moment to import and index, so tests share one
// copy. Tests must not modify it.
var (
	importBench = sync.OnceValues(func() (*List, error) {
		return ImportOFAC(context.Background(), filepath.Join(testenv.SharedDir(), "data", "sanctions", "ofac_sdn_bench"))
	})
	importSample = sync.OnceValues(func() (*List, error) {
		l, err := ImportOFAC(context.Background(), filepath.Join(testenv.SharedDir(), "data", "sanctions", "ofac_sdn_sample"))
		if err == nil {
			// Distinct from the bench list, which holds some of the same entries.
			l.Name = "ofac-sample"
		}
		return l, err
	})
	benchSampleIndex = sync.OnceValues(func() (*Index, error) {
		bench, err := importBench()
		if err != nil {
			return nil, err
		}
		sample, err := importSample()
		if err != nil {
			return nil, err
		}
		return NewIndex(bench, sample), nil
	})
)

func benchList(t testing.TB) *List {
	t.Helper()
	testenv.Data(t, "sanctions", "ofac_sdn_bench")
	l, err := importBench()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sampleList(t testing.TB) *List {
	t.Helper()
	testenv.Data(t, "sanctions", "ofac_sdn_sample")
	l, err := importSample()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fullIndex indexes the bench list and the sample list together: the
// sample entries must be found among 8,993 others.
func fullIndex(t testing.TB) *Index {
	t.Helper()
	benchList(t)
	sampleList(t)
	ix, err := benchSampleIndex()
	if err != nil {
		t.Fatal(err)
	}
	return ix
}
