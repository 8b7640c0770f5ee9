package seal

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestUserValues: only string values of partner_user_id members are
// found, at any depth, exactly as written; anything else is left alone.
func TestUserValues(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"webhook", `{"data":{"session_id":"s","partner_user_id":"a@b.c","x":1}}`, []string{`"a@b.c"`}},
		{"spaced", `{ "partner_user_id" :	 "a@b.c" }`, []string{`"a@b.c"`}},
		{"escaped", `{"partner_user_id":"a\"b\u0040"}`, []string{`"a\"b\u0040"`}},
		{"nested and in arrays", `{"user":{"partner_user_id":"u1"},"l":[{"partner_user_id":"u2"},["partner_user_id","x"]]}`, []string{`"u1"`, `"u2"`}},
		{"a name as a value", `{"k":"partner_user_id","v":"x"}`, nil},
		{"not a string", `{"partner_user_id":1,"n":{"partner_user_id":null},"o":{"partner_user_id":{"partner_user_id":"in"}}}`, []string{`"in"`}},
		{"after a container", `{"a":{"b":[1,{}]},"partner_user_id":"z"}`, []string{`"z"`}},
		{"not JSON", `{"partner_user_id":"x"`, nil},
		{"empty", ``, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, sp := range userValues([]byte(c.body)) {
				got = append(got, c.body[sp[0]:sp[1]])
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("userValues(%s) = %q, want %q", c.body, got, c.want)
			}
		})
	}
}

// TestUserFieldsRoundTrip: an event body reads back byte for byte, and
// its sealed form is bound to the event.
func TestUserFieldsRoundTrip(t *testing.T) {
	kr, err := LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, kr, kr)
	body := `{"data":{ "partner_user_id" : "alice@example.com","session_id":"s1"},"user":{"partner_user_id":"a\u0040b"}}`
	ev := centralEvent("e1", body)
	if err := s.sealEvent(&ev); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ev.Payload), "alice") || strings.Count(string(ev.Payload), userSealPrefix) != 2 {
		t.Fatalf("sealed body = %s", ev.Payload)
	}
	sealed := ev.Payload
	if err := s.openEvent(&ev); err != nil || string(ev.Payload) != body {
		t.Errorf("opened body = %s, %v; want %s", ev.Payload, err, body)
	}
	other := centralEvent("e2", string(sealed))
	if err := s.openEvent(&other); err == nil {
		t.Errorf("a body moved to another event opened: %s", other.Payload)
	}
}

func centralEvent(id, body string) central.WebhookEvent {
	return central.WebhookEvent{ID: id, Payload: json.RawMessage(body)}
}
