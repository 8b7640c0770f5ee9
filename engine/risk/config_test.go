package risk

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The seed's "Typical Scoring Weights" table.
	seed := map[SignalName]float64{
		FaceLiveness: 25, FaceMatch: 20, DocAuthenticity: 15, DocLiveness: 10,
		DataChecks: 15, Sanctions: 5, DeviceIntegrity: 10,
	}
	if !reflect.DeepEqual(cfg.Weights, seed) {
		t.Errorf("weights %v, want %v", cfg.Weights, seed)
	}
	if cfg.Bands != (Bands{ApproveMin: 85, ReviewMin: 50}) || cfg.MaxRetries != 3 {
		t.Errorf("bands %+v, max_retries %d; want 85/50 and 3", cfg.Bands, cfg.MaxRetries)
	}
	// DefaultConfig hands out a fresh map each time.
	cfg.Weights[FaceMatch] = 0
	if DefaultConfig().Weights[FaceMatch] != 20 {
		t.Error("DefaultConfig shares its weights map between calls")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // in the error
	}{
		{"missing weight", func(c *Config) { delete(c.Weights, DocLiveness) }, "no weight for doc_liveness"},
		{"unknown weight", func(c *Config) { c.Weights["voice_match"] = 3 }, `unknown signal "voice_match"`},
		{"negative weight", func(c *Config) { c.Weights[FaceMatch] = -1 }, "face_match is -1"},
		{"NaN weight", func(c *Config) { c.Weights[FaceMatch] = math.NaN() }, "face_match is NaN"},
		{"infinite weight", func(c *Config) { c.Weights[FaceMatch] = math.Inf(1) }, "face_match is +Inf"},
		{"all weights zero", func(c *Config) { sanctionsOnly(c); c.Weights[Sanctions] = 0 }, "total 0"},
		{"nil weights", func(c *Config) { c.Weights = nil }, "no weight for face_liveness"},
		{"unknown required", func(c *Config) { c.Required = append(c.Required, "voice_match") }, `required: unknown signal "voice_match"`},
		{"duplicate required", func(c *Config) { c.Required = append(c.Required, FaceMatch) }, "face_match listed twice"},
		{"overlapping bands", func(c *Config) { c.Bands = Bands{ApproveMin: 60, ReviewMin: 70} }, "bands overlap"},
		{"approve above 100", func(c *Config) { c.Bands.ApproveMin = 101 }, "approve_min is 101"},
		{"review below 0", func(c *Config) { c.Bands.ReviewMin = -5 }, "review_min is -5"},
		{"NaN band", func(c *Config) { c.Bands.ReviewMin = math.NaN() }, "review_min is NaN"},
		{"approve everything", func(c *Config) { c.Bands = Bands{} }, "approve every score"},
		{"threshold above 1", func(c *Config) { c.Thresholds.FaceLivenessMin = 50 }, "face_liveness_min is 50"},
		{"negative band of doubt", func(c *Config) { c.Thresholds.FaceLivenessChallengeMin = -0.1 }, "face_liveness_challenge_min is -0.1"},
		{"negative threshold", func(c *Config) { c.Thresholds.DataChecksMin = -0.1 }, "data_checks_min is -0.1"},
		{"face match zones crossed", func(c *Config) { c.Thresholds.FaceMatchMin = 0.8 }, "face_match_min 0.8 is above face_match_accept 0.65"},
		{"no attempts", func(c *Config) { c.MaxRetries = 0 }, "max_retries: 0"},
		{"bad mismatch policy", func(c *Config) { c.FaceMismatch = "ignore" }, `face_mismatch: "ignore"`},
		{"empty mismatch policy", func(c *Config) { c.FaceMismatch = "" }, `face_mismatch: ""`},
		{"exhausted approves", func(c *Config) { c.RetriesExhausted = Approve }, `retries_exhausted: "approve"`},
		{"exhausted escalates", func(c *Config) { c.RetriesExhausted = Escalate }, `retries_exhausted: "escalate"`},
		{"negative minimum age", func(c *Config) { c.MinAge = -1 }, "min_age: -1"},
		{"minimum age past any service", func(c *Config) { c.MinAge = 180 }, "min_age: 180"},
		{"screening age negative", func(c *Config) { c.ScreeningMaxAgeDays = -1 }, "screening_max_age_days: -1"},
		{"screening age past a year", func(c *Config) { c.ScreeningMaxAgeDays = 400 }, "screening_max_age_days: 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRetries = -1
	cfg.Bands.ReviewMin = 90
	cfg.Weights[Sanctions] = -2
	err := cfg.Validate()
	for _, want := range []string{"max_retries", "bands overlap", "sanctions is -2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}

func TestValidateAcceptsEdges(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"zero weight":      func(c *Config) { c.Weights[DeviceIntegrity] = 0 },
		"no review band":   func(c *Config) { c.Bands = Bands{ApproveMin: 70, ReviewMin: 70} },
		"no reject band":   func(c *Config) { c.Bands.ReviewMin = 0 },
		"perfection only":  func(c *Config) { c.Bands.ApproveMin = 100 },
		"rules disabled":   func(c *Config) { c.Thresholds = Thresholds{} },
		"no band of doubt": func(c *Config) { c.Thresholds.FaceLivenessChallengeMin = 0 },
		"band of doubt up to the threshold": func(c *Config) {
			c.Thresholds.FaceLivenessChallengeMin = c.Thresholds.FaceLivenessMin
		},
		// An older policy that lowered the threshold under the default
		// band's bottom: no band.
		"threshold under the band":   func(c *Config) { c.Thresholds.FaceLivenessMin = 0.2 },
		"nothing required":           func(c *Config) { c.Required = nil },
		"required, zero weight":      func(c *Config) { c.Weights[Sanctions] = 0 },
		"one attempt":                func(c *Config) { c.MaxRetries = 1 },
		"mismatch rejects":           func(c *Config) { c.FaceMismatch = MismatchReject },
		"exhausted goes to a person": func(c *Config) { c.RetriesExhausted = Review },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	custom := DefaultConfig()
	custom.Weights[FaceLiveness] = 30.5
	custom.Required = []SignalName{FaceMatch}
	custom.Bands = Bands{ApproveMin: 90, ReviewMin: 40}
	custom.Thresholds.FaceMatchAccept = 0.7
	custom.MaxRetries = 5
	custom.FaceMismatch = MismatchReject
	custom.RetriesExhausted = Review

	for name, cfg := range map[string]Config{"default": DefaultConfig(), "custom": custom} {
		data, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var plain Config
		if err := json.Unmarshal(data, &plain); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(plain, cfg) {
			t.Errorf("%s: json.Unmarshal gave %+v, want %+v", name, plain, cfg)
		}
		parsed, err := ParseConfig(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(parsed, cfg) {
			t.Errorf("%s: ParseConfig gave %+v, want %+v", name, parsed, cfg)
		}
	}
}

func TestConfigJSONFieldNames(t *testing.T) {
	data, err := json.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"weights", "required", "bands", "thresholds", "max_retries", "face_mismatch", "retries_exhausted"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("JSON %s has no field %q", data, f)
		}
	}
	// Settings added since devices refused unknown ones are left out at
	// their default, so the defaults stay a document every device installs.
	for _, f := range []string{"min_age", "screening_max_age_days"} {
		if _, ok := fields[f]; ok {
			t.Errorf("JSON %s has %q at its default", data, f)
		}
	}
}

func TestParseConfig(t *testing.T) {
	t.Run("partial keeps defaults", func(t *testing.T) {
		cfg, err := ParseConfig([]byte(`{"max_retries": 5, "weights": {"face_liveness": 40}, "thresholds": {"face_match_accept": 0.7}}`))
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultConfig()
		want.MaxRetries = 5
		want.Weights[FaceLiveness] = 40
		want.Thresholds.FaceMatchAccept = 0.7
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got %+v, want %+v", cfg, want)
		}
	})
	t.Run("screening age from central", func(t *testing.T) {
		cfg, err := ParseConfig([]byte(`{"screening_max_age_days": 2}`))
		if err != nil || cfg.ScreeningMaxAgeDays != 2 {
			t.Fatalf("ScreeningMaxAgeDays %d, err %v; want 2, nil", cfg.ScreeningMaxAgeDays, err)
		}
		for _, doc := range []string{`{}`, `{"screening_max_age_days": 0}`} {
			cfg, err := ParseConfig([]byte(doc))
			if age := cfg.ScreeningAge(ScreeningData{}); err != nil || age.MaxAge != DefaultScreeningMaxAgeDays*24*time.Hour {
				t.Errorf("%s: judged against %v (%v), want the default %d days", doc, age.MaxAge, err, DefaultScreeningMaxAgeDays)
			}
		}
	})
	t.Run("required replaces the list", func(t *testing.T) {
		cfg, err := ParseConfig([]byte(`{"required": ["face_match"]}`))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Required, []SignalName{FaceMatch}) {
			t.Errorf("required %v, want [face_match]", cfg.Required)
		}
	})

	for _, tt := range []struct{ name, json string }{
		{"empty", ``},
		{"malformed", `{"max_retries": `},
		{"not an object", `[1, 2]`},
		{"null", `null`},
		{"null with spaces", " \n null "},
		{"a string", `"strict"`},
		{"a number", `85`},
		{"wrong type", `{"max_retries": "three"}`},
		{"unknown field", `{"aprove_min": 80}`},
		{"trailing data", `{"max_retries": 2} {"max_retries": 9}`},
		{"unknown signal", `{"weights": {"voice": 10}}`},
		{"overlapping bands", `{"bands": {"approve_min": 50, "review_min": 60}}`},
		{"bands out of range", `{"bands": {"approve_min": 150}}`},
		{"null weights", `{"weights": null}`},
		{"screening age negative", `{"screening_max_age_days": -7}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
