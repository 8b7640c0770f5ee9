package httpx

import "testing"

func TestCutURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Post "https://partner.example/hook?token=SECRET": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Post "https://partner.example": dial tcp 127.0.0.1:1: connect: connection refused`},
		{"https://user:pw@partner.example:8443/p/a/t/h?q=1#frag and http://[::1]:80/x",
			"https://partner.example:8443 and http://[::1]:80"},
		{"https://hooks.example/services/T0/B0/SECRET", "https://hooks.example"},
		{"no URL here: host:443/path?x", "no URL here: host:443/path?x"},
	} {
		if got := CutURLs(tc.in); got != tc.want {
			t.Errorf("CutURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
