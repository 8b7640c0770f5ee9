package httpx

import (
	"regexp"
	"strings"
)

// urlText finds the URLs in a text: a scheme, "://", and what follows up
// to a space, a quote or an angle bracket.
var urlText = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// CutURLs returns s with each URL in it cut to its origin (scheme, host
// and port): its user info, path, query and fragment are dropped. An
// error's text is written for people and may quote the URL a request
// went to (net/url's Error does, in full), whose query or path can carry
// a partner's token or a user's id; central keeps such text only cut
// (River's stored errors, webhook and push attempts' error excerpts).
// The path goes too: some receivers take their secret in it.
func CutURLs(s string) string {
	return urlText.ReplaceAllStringFunc(s, origin)
}

// origin is the scheme and host of the URL u.
func origin(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return scheme + "://" + rest
}
