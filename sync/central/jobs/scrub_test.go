package jobs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Post "https://u:pw@hooks.example:8443/cb/user-1?token=abc#x": EOF`, `Post "https://hooks.example:8443": EOF`},
		{"leasing lane of partner pa_1 session sess_9f: timeout", "leasing lane of partner pa_1 session sess_9f: timeout"},
		{"for ayu.lestari+kyc@mail.example.co.id now", "for <email> now"},
		{"nik 3174096112900001, phone +6281234567890, seq 42", "nik <digits>, phone +<digits>, seq 42"},
		{"key kek-20261205T041838Z-c05661dc unknown", "key kek-20261205T041838Z-c05661dc unknown"},
	} {
		if got := Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := Scrub(strings.Repeat("é", 2*ErrorBytes))
	if len(long) > ErrorBytes || !utf8.ValidString(long) || !strings.HasSuffix(long, "(cut)") {
		t.Errorf("a long text scrubbed to %d bytes (valid UTF-8 %v): %q", len(long), utf8.ValidString(long), long)
	}
}
