package seal

import (
	"bytes"
	"encoding/json"

	"github.com/openkyc/kyc/sync/central"
)

// The payload is the JSON a device seals into a submission: the app's
// (app/session.go) is the session metadata, the engine's verify.Report
// under "report" (its document.Result holds the extracted fields, the NIK
// decoded, the MRZ, the screened name) and the device attestation. Tests
// and older devices send flat payloads ("name", "nik", "decision").

// identifierPaths are where a payload carries a person's identifiers.
var identifierPaths = map[central.IdentifierKind][][]string{
	central.IdentNIK: {
		{"nik"},
		{"report", "document", "nik", "number"},
		{"report", "document", "fields", "nik", "value"},
	},
	central.IdentDocumentNumber: {
		{"document_number"},
		{"report", "document", "fields", "document_number", "value"},
		{"report", "document", "mrz", "fields", "document_number"},
	},
	central.IdentName: {
		{"name"},
		{"report", "document", "fields", "name", "value"},
		{"report", "screening", "name"},
	},
}

// namePairs are given names and surname read apart; each pair makes one
// name (Normalize sorts the words, so the order does not matter).
var namePairs = [][2][]string{
	{{"given_names"}, {"surname"}},
	{{"report", "document", "fields", "given_names", "value"}, {"report", "document", "fields", "surname", "value"}},
	{{"report", "document", "mrz", "fields", "given_names"}, {"report", "document", "mrz", "fields", "surname"}},
}

// Identifiers returns the distinct identifiers of the person a payload is
// about, by kind. A KTP's NIK is also its document number.
func Identifiers(payload []byte) map[central.IdentifierKind][]string {
	var doc map[string]any
	if json.Unmarshal(payload, &doc) != nil {
		return nil
	}
	out := map[central.IdentifierKind][]string{}
	addValue := func(kind central.IdentifierKind, v string) {
		n, ok := Normalize(kind, v)
		if !ok {
			return
		}
		for _, have := range out[kind] {
			if have == n {
				return
			}
		}
		out[kind] = append(out[kind], n)
	}
	for kind, paths := range identifierPaths {
		for _, p := range paths {
			if v, ok := lookup(doc, p).(string); ok {
				addValue(kind, v)
				if kind == central.IdentNIK {
					addValue(central.IdentDocumentNumber, v)
				}
			}
		}
	}
	for _, pair := range namePairs {
		given, _ := lookup(doc, pair[0]).(string)
		surname, _ := lookup(doc, pair[1]).(string)
		if given != "" || surname != "" {
			addValue(central.IdentName, given+" "+surname)
		}
	}
	return out
}

func lookup(v any, path []string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// decisionKeys are the parts of a payload kept once the extracted fields
// expire: what was decided and why, the session it belongs to, and the
// device check. Everything else (the document's fields, the MRZ, the face
// and screening details, free-text reason details) goes.
var decisionKeys = []string{"session_id", "attempt", "operator", "doc_type", "country", "app_version",
	"decision", "score", "reasons", "next_action", "retry_step", "attestation"}

// reportDecisionKeys are kept from the engine's report.
var reportDecisionKeys = []string{"decision", "score", "reasons", "next_action", "retry_step"}

// Decision is the part of a payload that outlives its extracted fields:
// the decision, score and reason codes (details dropped) and the session
// metadata and device attestation. nil when the payload is not a JSON
// object.
func Decision(payload []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // scores keep their exact digits
	var doc map[string]any
	if dec.Decode(&doc) != nil {
		return nil
	}
	out := pick(doc, decisionKeys)
	if rep, ok := doc["report"].(map[string]any); ok {
		out["report"] = pick(rep, reportDecisionKeys)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return data
}

func pick(m map[string]any, keys []string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		if k == "reasons" {
			v = reasonCodes(v)
		}
		out[k] = v
	}
	return out
}

// reasonCodes keeps the codes of risk.Reason values, whose details may
// quote personal data (a watchlist entry, a name read).
func reasonCodes(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	codes := make([]any, 0, len(list))
	for _, r := range list {
		if m, ok := r.(map[string]any); ok {
			codes = append(codes, m["code"])
		} else {
			codes = append(codes, r)
		}
	}
	return codes
}
