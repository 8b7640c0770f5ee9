package protocol

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxText is the most bytes of the other side's words (an error's code
// and message, a review's reason) that Printable keeps.
const MaxText = 1 << 10

// Printable is s, text the other side of the wire sent, made safe to show
// a person and to keep: what a terminal or a log viewer would act on
// rather than show (C0 and C1 control characters, so ANSI escape
// sequences, DEL, and the bidirectional overrides that make text read
// other than it is stored) becomes U+FFFD, line breaks and tabs a space
// (a message must not forge a log line of its own), invalid UTF-8
// U+FFFD; and it is cut to at most limit bytes (a rune boundary, "…" in
// place of what is cut). A hostile or broken central, or whatever holds
// its certificate, so cannot clear an operator's screen, retitle the
// terminal, or fill the vault with one answer's megabytes.
func Printable(s string, limit int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unprintable(r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= limit {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case unprintable(r):
			r = utf8.RuneError
		}
		if b.Len() > limit {
			break // what follows is cut anyway
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= limit {
		return out
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:max(cut, 0)] + "…"
}

// unprintable reports whether a terminal acts on r rather than shows it.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
