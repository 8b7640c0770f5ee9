package auth

import "strings"

// maxUserAgent bounds the User-Agent DescribeClient reads: a longer one is
// no browser's, and it is only searched for a few words.
const maxUserAgent = 1024

// DescribeClient names the browser family and operating system of a
// User-Agent, from short fixed lists ("Firefox", "Linux"), so a user
// recognises their sessions on the account page (ASVS 3.3.4). Anything
// else is "" (the page says "unknown"). It is a few substring checks, not
// a parser: the names are a hint to the user, never a security decision
// (a client sends what it likes), and storing only these words, not the
// header, keeps the session record free of a fingerprint. The order
// matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android
// says "Linux", iOS says "Mac OS X".
func DescribeClient(ua string) (browser, os string) {
	if len(ua) > maxUserAgent {
		return "", ""
	}
	first := func(rules [][2]string) string {
		for _, r := range rules {
			if strings.Contains(ua, r[0]) {
				return r[1]
			}
		}
		return ""
	}
	browser = first([][2]string{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"},
	})
	os = first([][2]string{
		{"Windows", "Windows"}, {"Android", "Android"},
		{"iPhone", "iOS"}, {"iPad", "iOS"}, {"CrOS", "ChromeOS"},
		{"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	})
	return browser, os
}
