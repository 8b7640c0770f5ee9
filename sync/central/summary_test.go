package central

import (
	"reflect"
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Summary
	}{
		{"report", `{"session_id":"s1","attempt":2,"doc_type":"ktp","country":"idn","report":{"decision":"review","score":42.5,
			"next_action":"STATUS","reasons":[{"code":"FACE_MISMATCH","detail":"x"},{"code":"DOC_EXPIRED"}],
			"document":{"type":"passport","country":"utO"},"screening":{"hits":[{"name":"a"},{"name":"b"}]}}}`,
			Summary{Decision: "review", Score: 42.5, Reasons: []string{"FACE_MISMATCH", "DOC_EXPIRED"}, NextAction: "STATUS",
				DocType: "passport", Country: "UTO", SessionID: "s1", Attempt: 2, Hits: 2}},
		{"operator's choice when the engine read nothing", `{"doc_type":"ktp","country":"IDN","report":{"decision":"reject","document":{"type":"unknown"}}}`,
			Summary{Decision: "reject", DocType: "ktp", Country: "IDN"}},
		{"not JSON", `{"session_id":`, Summary{Decision: "unknown"}},
		{"no report", `{"session_id":"s2","attempt":1}`, Summary{Decision: "unknown", SessionID: "s2", Attempt: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize([]byte(tc.payload))
			if !slices.Equal(got.Reasons, tc.want.Reasons) {
				t.Fatalf("reasons %v, want %v", got.Reasons, tc.want.Reasons)
			}
			got.Reasons, tc.want.Reasons = nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSummarizeBoundsDeviceStrings(t *testing.T) {
	long := make([]byte, 500)
	for i := range long {
		long[i] = 'a'
	}
	s := Summarize([]byte(`{"report":{"decision":"` + string(long) + `"}}`))
	if len(s.Decision) != 64 {
		t.Fatalf("decision kept %d bytes", len(s.Decision))
	}
}
