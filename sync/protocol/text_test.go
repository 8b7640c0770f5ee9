package protocol

import (
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{"database down", 100, "database down"},
		{"\x1b[2Jclear", 100, "\uFFFD[2Jclear"},
		{"a\r\nforged line\tx", 100, "a  forged line x"},
		{"C1 \u009b6n, DEL \x7f, bidi \u202eevil\u2066", 100, "C1 \uFFFD6n, DEL \uFFFD, bidi \uFFFDevil\uFFFD"},
		{"bad \xff utf-8", 100, "bad \uFFFD utf-8"},
		{"ok: é, 日本, 🙂", 100, "ok: é, 日本, 🙂"},
		{strings.Repeat("x", 9), 9, strings.Repeat("x", 9)},
		{strings.Repeat("x", 10), 9, strings.Repeat("x", 6) + "…"},
		{strings.Repeat("é", 10), 9, strings.Repeat("é", 3) + "…"}, // whole runes only
		{"\x1b" + strings.Repeat("x", 1<<20), MaxText, "\uFFFD" + strings.Repeat("x", MaxText-6) + "…"},
	} {
		if got := Printable(c.in, c.limit); got != c.want {
			t.Errorf("Printable(%.40q, %d) = %.60q, want %.60q", c.in, c.limit, got, c.want)
		}
	}
}
