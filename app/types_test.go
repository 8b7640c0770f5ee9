package app

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The page's types (frontend/src/api.ts) mirror this package's JSON by
// hand; TestFrontendTypes holds them to it: every Go struct the page reads
// or sends has its TypeScript interface with the same fields, optional
// exactly where Go may leave a field out, and the page's binding names the
// App's bound methods.
func TestFrontendTypes(t *testing.T) {
	src, err := os.ReadFile("../frontend/src/api.ts")
	if err != nil {
		t.Fatal(err)
	}
	ts := parseInterfaces(t, string(src))
	for name, v := range map[string]any{
		"View": View{}, "SessionConfig": SessionConfig{}, "SessionView": SessionView{}, "ChallengeView": ChallengeView{},
		"ChallengePrompt": ChallengePrompt{}, "Stage": Stage{}, "ResultView": ResultView{}, "OperatorResult": OperatorResult{},
		"HandoffView": HandoffView{}, "DeviceStatus": DeviceStatus{}, "ModelStatus": ModelStatus{}, "HomeInfo": HomeInfo{},
		"FrameView": FrameView{}, "QueueItem": QueueItem{}, "QueueView": QueueView{}, "SyncStatus": SyncStatus{},
		"SyncView": SyncView{}, "ConfigInUse": ConfigInUse{}, "Settings": Settings{}, "SettingsView": SettingsView{},
		"SubmissionDetails": SubmissionDetails{}, "IdentityField": IdentityField{}, "DetailImages": DetailImages{},
		"Gauge": Gauge{}, "Check": Check{}, "EnrolRequest": EnrolRequest{}, "EnrolmentView": EnrolmentView{},
	} {
		want := jsonFields(reflect.TypeOf(v))
		got, ok := ts[name]
		if !ok {
			t.Errorf("api.ts has no interface %s", name)
			continue
		}
		for f, optional := range want {
			tsOptional, ok := got[f]
			switch {
			case !ok:
				t.Errorf("api.ts %s lacks %q", name, f)
			case tsOptional != optional:
				t.Errorf("api.ts %s.%s: optional %v, Go omits it when empty: %v", name, f, tsOptional, optional)
			}
		}
		for f := range got {
			if _, ok := want[f]; !ok {
				t.Errorf("api.ts %s has %q, which Go does not send", name, f)
			}
		}
	}

	// The binding: the App's exported methods the page may call. Start,
	// Startup and Shutdown are the window's, not the page's.
	var methods []string
	for m := range reflect.TypeOf(&App{}).Methods() {
		if !slices.Contains([]string{"Start", "Startup", "Shutdown"}, m.Name) {
			methods = append(methods, m.Name)
		}
	}
	binding := keys(ts["AppBinding"])
	sort.Strings(methods)
	if !slices.Equal(methods, binding) {
		t.Errorf("api.ts AppBinding names %v, the App binds %v", binding, methods)
	}
}

// parseInterfaces reads `export interface Name [extends Base] { ... }`
// blocks: each field's name and whether it is optional; methods count as
// fields. A base's fields are included.
func parseInterfaces(t *testing.T, src string) map[string]map[string]bool {
	t.Helper()
	// An interface ends at the first brace that ends a line (a nested
	// type's is followed by [] or ;).
	block := regexp.MustCompile(`(?s)export interface (\w+)(?: extends (\w+))? \{(.*?)\}\s*\n`)
	field := regexp.MustCompile(`(?:^|[;\n])\s*(\w+)(\??)\s*[:(]`)
	out := map[string]map[string]bool{}
	bases := map[string]string{}
	for _, m := range block.FindAllStringSubmatch(src, -1) {
		body := regexp.MustCompile(`//[^\n]*`).ReplaceAllString(m[3], "")
		// Nested object types ({ x: number }) are not fields of this one.
		for nested := regexp.MustCompile(`\{[^{}]*\}`); nested.MatchString(body); {
			body = nested.ReplaceAllString(body, "T")
		}
		fs := map[string]bool{}
		for _, f := range field.FindAllStringSubmatch(body, -1) {
			fs[f[1]] = f[2] == "?"
		}
		out[m[1]] = fs
		bases[m[1]] = m[2]
	}
	for name, base := range bases {
		if base == "" {
			continue
		}
		if _, ok := out[base]; !ok {
			t.Fatalf("api.ts %s extends the unknown %s", name, base)
		}
		for f, o := range out[base] {
			out[name][f] = o
		}
	}
	return out
}

// jsonFields are the JSON names of struct type typ's fields (embedded
// structs' promoted) and whether each may be left out.
func jsonFields(typ reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
