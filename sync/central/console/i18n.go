package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// languages the console speaks; the first is the fallback.
var languages = []string{"en", "id"}

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.Indonesian})

// catalogues are the message catalogues (web/i18n/<lang>.json: a flat
// object of key → message), by language.
type catalogues map[string]map[string]string

func loadCatalogues() (catalogues, error) {
	cat := catalogues{}
	for _, lang := range languages {
		b, err := webFS.ReadFile("web/i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("console: reading the %s catalogue: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("console: reading the %s catalogue: %w", lang, err)
		}
		cat[lang] = m
	}
	return cat, nil
}

func (cat catalogues) has(key string) bool {
	_, ok := cat["en"][key]
	return ok
}

// t translates key into lang, falling back to English, then to what
// follows the key's first dot (a dynamic key such as "field.<name>" for a
// field the catalogue does not name shows the name; TestCatalogues checks
// every literal key).
// With args the message is a fmt format.
func (cat catalogues) t(lang, key string, args ...any) string {
	msg, ok := cat[lang][key]
	if !ok {
		if msg, ok = cat["en"][key]; !ok {
			_, msg, _ = strings.Cut(key, ".")
			if msg == "" {
				msg = key
			}
			return msg
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

func (cat catalogues) translator(lang string) func(string, ...any) string {
	return func(key string, args ...any) string { return cat.t(lang, key, args...) }
}

// T translates key into v's language (for messages made in Go).
func (c *Console) T(v *Viewer, key string, args ...any) string {
	lang := "en"
	if v != nil {
		lang = v.Lang
	}
	return c.cat.t(lang, key, args...)
}

// lang picks the language: the user's setting, else the language cookie
// (the switch on public pages), else Accept-Language, else English.
func (c *Console) lang(r *http.Request, setting string) string {
	if validLang(setting) {
		return setting
	}
	if ck, err := r.Cookie(c.cookieName(langCookie)); err == nil && validLang(ck.Value) {
		return ck.Value
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			_, i, conf := langMatcher.Match(tags...)
			if conf != language.No {
				return languages[i]
			}
		}
	}
	return "en"
}

func validLang(l string) bool {
	for _, x := range languages {
		if strings.EqualFold(l, x) && l == x {
			return true
		}
	}
	return false
}
