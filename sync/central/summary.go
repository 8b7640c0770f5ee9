package central

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Summarize takes from a submission's payload (as the app and `kyc verify`
// seal it: the session context with the engine's report) what the review
// queue filters by. A payload it cannot read gives a Summary whose
// Decision is "unknown", which the queue shows for a person to look at:
// central never drops what a device delivered.
func Summarize(payload []byte) Summary {
	var p struct {
		Session string `json:"session_id"`
		Attempt int    `json:"attempt"`
		DocType string `json:"doc_type"`
		Country string `json:"country"`
		Report  *struct {
			Decision   string  `json:"decision"`
			Score      float64 `json:"score"`
			NextAction string  `json:"next_action"`
			Reasons    []struct {
				Code string `json:"code"`
			} `json:"reasons"`
			Document *struct {
				Type    string `json:"type"`
				Country string `json:"country"`
			} `json:"document"`
			Screening struct {
				Hits []json.RawMessage `json:"hits"`
			} `json:"screening"`
		} `json:"report"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Report == nil || p.Report.Decision == "" {
		return Summary{Decision: "unknown", SessionID: clip(p.Session), Attempt: p.Attempt}
	}
	r := p.Report
	s := Summary{Decision: clip(r.Decision), Score: r.Score, NextAction: clip(r.NextAction),
		DocType: clip(p.DocType), Country: clip(p.Country), SessionID: clip(p.Session), Attempt: p.Attempt,
		Hits: len(r.Screening.Hits)}
	if d := r.Document; d != nil {
		// What the engine read wins over what the operator chose.
		if d.Type != "" && d.Type != "unknown" {
			s.DocType = clip(d.Type)
		}
		if d.Country != "" {
			s.Country = clip(d.Country)
		}
	}
	for _, rc := range r.Reasons {
		if rc.Code != "" && len(s.Reasons) < maxSummaryReasons {
			s.Reasons = append(s.Reasons, clip(rc.Code))
		}
	}
	s.Country = strings.ToUpper(s.Country)
	return s
}

// maxSummaryReasons bounds the reason codes a Summary keeps.
const maxSummaryReasons = 32

// clip makes a string from a device fit an index column of either store:
// at most 64 bytes of valid UTF-8, cut between runes, without control
// characters. PostgreSQL refuses a NUL or a broken sequence in text, and
// the submission would fail with a 500 that its device retries for ever;
// a broken sequence becomes U+FFFD.
func clip(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > 64 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
