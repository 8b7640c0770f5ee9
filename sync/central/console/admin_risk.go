package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
)

// Risk settings: a form over engine/risk's Config (weights, required
// signals, score bands, thresholds, retries, the holder's minimum age, the
// watchlists' maximum age), checked field by field and
// then by risk's own Validate, with a preview of how the last
// previewCases submissions would have been decided under it, proposed and,
// once another admin confirms it (admin_riskproposal.go), published to
// devices through central (signed in the configuration they sync).

func (c *Console) routeAdminRisk() {
	c.route("GET /console/risk", central.RoleAdmin, c.riskPage)
	c.route("POST /console/risk", central.RoleAdmin, c.riskPost)
	c.routeRiskProposal()
}

// previewCases is how many of the latest submissions the preview decides
// again.
const previewCases = 1000

// maxWeight bounds one weight in the form (weights are relative).
const maxWeight = 1000

// maxRetriesLimit bounds the attempts a session may allow.
const maxRetriesLimit = 10

// riskField is one number of the form.
type riskField struct {
	Name     string // the form field and the config's JSON name
	Value    string
	Min, Max string
	Step     string
	Invalid  bool
}

// riskSignal is one signal's weight and whether it is required.
type riskSignal struct {
	Name     string
	Weight   riskField
	Required bool
}

// riskForm is the form's state: the current settings, or what the admin
// typed with what is wrong with it.
type riskForm struct {
	Version    int64 // the published version (0: built-in defaults)
	Signals    []riskSignal
	Bands      []riskField
	Thresholds []riskField
	MaxRetries riskField
	MinAge     riskField
	// ScreeningMaxAge is screening_max_age_days, shown at its default (7)
	// when the document leaves it out.
	ScreeningMaxAge  riskField
	FaceMismatch     string
	RetriesExhausted string
	Problems         []riskProblem
	Detail           string // risk.Validate's own words, when it refused
	Preview          *riskPreview
	Stored           bool // false when the stored document does not parse
	Reason           string
	// Pending is the proposal waiting for a second admin, if any.
	Pending *riskPending
}

// riskProblem is one thing wrong with the form: a catalogue key and the
// field it is about.
type riskProblem struct {
	Key   string
	Field string
}

func (c *Console) riskPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	cfg, ver, ok, err := c.currentRisk(r.Context())
	if err != nil {
		return err
	}
	f := formFromConfig(cfg)
	f.Version, f.Stored = ver, ok
	if f.Pending, err = c.pendingRisk(r.Context(), v, cfg, ver); err != nil {
		return err
	}
	return c.render(w, r, v, http.StatusOK, "admin_risk.html", f)
}

// currentRisk is the published configuration, parsed as devices parse it
// (over the defaults); ok is false when none parses (the defaults then).
func (c *Console) currentRisk(ctx context.Context) (risk.Config, int64, bool, error) {
	doc, ver, err := c.cfg.Store.Risk(ctx)
	if err != nil {
		return risk.Config{}, 0, false, fmt.Errorf("reading the risk configuration: %w", err)
	}
	if ver == 0 || len(doc) == 0 {
		return risk.DefaultConfig(), ver, true, nil
	}
	cfg, err := risk.ParseConfig(doc)
	if err != nil {
		return risk.DefaultConfig(), ver, false, nil
	}
	return cfg, ver, true, nil
}

func (c *Console) riskPost(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := globalSetting(v); err != nil {
		return err
	}
	ctx := r.Context()
	cur, ver, ok, err := c.currentRisk(ctx)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return fail(http.StatusBadRequest, "generic")
	}
	f, cfg := formFromRequest(r)
	f.Version, f.Stored = ver, ok
	if len(f.Problems) == 0 {
		if err := cfg.Validate(); err != nil {
			f.Problems = append(f.Problems, riskProblem{Key: "adm.risk.err_invalid"})
			f.Detail = strings.TrimPrefix(err.Error(), risk.ErrInvalidConfig.Error()+": ")
		}
	}
	if len(f.Problems) > 0 {
		return c.render(w, r, v, http.StatusUnprocessableEntity, "admin_risk.html", f)
	}
	switch r.PostFormValue("action") {
	case "propose":
		// The form carries the version it was read (or previewed) at: a
		// proposal from a stale page would silently undo another admin's
		// newer settings, which its preview never compared with.
		if r.PostFormValue("version") != strconv.FormatInt(ver, 10) {
			f.Problems = append(f.Problems, riskProblem{Key: "adm.risk.err_stale"})
			return c.render(w, r, v, http.StatusConflict, "admin_risk.html", f)
		}
		reason, err := formNote(r, "reason")
		if err != nil {
			return err
		}
		srv, err := c.server()
		if err != nil {
			return err
		}
		doc, err := json.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("encoding the risk configuration: %w", err)
		}
		if _, err := srv.ProposeRisk(ctx, v.Actor(), doc, reason); err != nil {
			return opError(err)
		}
		return c.seeOther(w, r, "/console/risk", "msg.adm.risk_proposed")
	default: // preview
		p, err := c.previewRisk(ctx, cur, cfg)
		if err != nil {
			return err
		}
		f.Preview = p
		f.Reason = strings.TrimSpace(r.PostFormValue("reason"))
		if f.Pending, err = c.pendingRisk(ctx, v, cur, ver); err != nil {
			return err
		}
		return c.render(w, r, v, http.StatusOK, "admin_risk.html", f)
	}
}

// thresholdNames are the thresholds in the form's order, with their JSON
// names.
var thresholdNames = []string{"face_liveness_min", "face_liveness_challenge_min", "doc_liveness_min", "doc_authenticity_min",
	"face_match_min", "face_match_accept", "data_checks_min"}

func thresholdPtrs(t *risk.Thresholds) []*float64 {
	return []*float64{&t.FaceLivenessMin, &t.FaceLivenessChallengeMin, &t.DocLivenessMin, &t.DocAuthenticityMin,
		&t.FaceMatchMin, &t.FaceMatchAccept, &t.DataChecksMin}
}

func riskNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func formFromConfig(cfg risk.Config) *riskForm {
	f := &riskForm{FaceMismatch: string(cfg.FaceMismatch), RetriesExhausted: string(cfg.RetriesExhausted)}
	for _, s := range risk.Signals() {
		f.Signals = append(f.Signals, riskSignal{Name: string(s), Required: slices.Contains(cfg.Required, s),
			Weight: riskField{Name: "w_" + string(s), Value: riskNum(cfg.Weights[s]), Min: "0", Max: strconv.Itoa(maxWeight), Step: "any"}})
	}
	f.Bands = []riskField{
		{Name: "approve_min", Value: riskNum(cfg.Bands.ApproveMin), Min: "0", Max: "100", Step: "any"},
		{Name: "review_min", Value: riskNum(cfg.Bands.ReviewMin), Min: "0", Max: "100", Step: "any"},
	}
	for i, p := range thresholdPtrs(&cfg.Thresholds) {
		f.Thresholds = append(f.Thresholds, riskField{Name: thresholdNames[i], Value: riskNum(*p), Min: "0", Max: "1", Step: "any"})
	}
	f.MaxRetries = riskField{Name: "max_retries", Value: strconv.Itoa(cfg.MaxRetries), Min: "1", Max: strconv.Itoa(maxRetriesLimit), Step: "1"}
	f.MinAge = riskField{Name: "min_age", Value: strconv.Itoa(cfg.MinAge), Min: "0", Max: strconv.Itoa(risk.MaxMinAge), Step: "1"}
	days := cfg.ScreeningMaxAgeDays
	if days == 0 {
		days = risk.DefaultScreeningMaxAgeDays
	}
	f.ScreeningMaxAge = riskField{Name: "screening_max_age_days", Value: strconv.Itoa(days), Min: "1", Max: strconv.Itoa(risk.MaxScreeningMaxAgeDays), Step: "1"}
	return f
}

// formFromRequest reads the form into a Config, checking each field's
// range and the order of related fields; the form keeps what was typed.
func formFromRequest(r *http.Request) (*riskForm, risk.Config) {
	cfg := risk.DefaultConfig()
	f := formFromConfig(cfg)
	problem := func(fd *riskField, key string) {
		fd.Invalid = true
		f.Problems = append(f.Problems, riskProblem{Key: key, Field: fd.Name})
	}
	read := func(fd *riskField, lo, hi float64) float64 {
		fd.Value = strings.TrimSpace(r.PostFormValue(fd.Name))
		x, err := strconv.ParseFloat(fd.Value, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			problem(fd, "adm.risk.err_number")
			return 0
		}
		if x < lo || x > hi {
			problem(fd, "adm.risk.err_range")
		}
		return x
	}
	cfg.Required = nil
	var total float64
	for i, s := range risk.Signals() {
		sg := &f.Signals[i]
		cfg.Weights[s] = read(&sg.Weight, 0, maxWeight)
		total += cfg.Weights[s]
		sg.Required = r.PostFormValue("req_"+string(s)) != ""
		if sg.Required {
			cfg.Required = append(cfg.Required, s)
		}
	}
	if total <= 0 {
		f.Problems = append(f.Problems, riskProblem{Key: "adm.risk.err_weights"})
	}
	cfg.Bands.ApproveMin = read(&f.Bands[0], 0, 100)
	cfg.Bands.ReviewMin = read(&f.Bands[1], 0, 100)
	if !f.Bands[0].Invalid && !f.Bands[1].Invalid && cfg.Bands.ReviewMin > cfg.Bands.ApproveMin {
		problem(&f.Bands[1], "adm.risk.err_bands")
	}
	for i, p := range thresholdPtrs(&cfg.Thresholds) {
		*p = read(&f.Thresholds[i], 0, 1)
	}
	th := cfg.Thresholds
	if th.FaceMatchMin > th.FaceMatchAccept {
		problem(&f.Thresholds[4], "adm.risk.err_face_match")
	}
	if th.FaceLivenessChallengeMin > th.FaceLivenessMin {
		problem(&f.Thresholds[1], "adm.risk.err_liveness")
	}
	f.MaxRetries.Value = strings.TrimSpace(r.PostFormValue("max_retries"))
	n, err := strconv.Atoi(f.MaxRetries.Value)
	if err != nil || n < 1 || n > maxRetriesLimit {
		problem(&f.MaxRetries, "adm.risk.err_retries")
	}
	cfg.MaxRetries = n
	// An empty field is no minimum age.
	if f.MinAge.Value = strings.TrimSpace(r.PostFormValue("min_age")); f.MinAge.Value != "" {
		n, err := strconv.Atoi(f.MinAge.Value)
		if err != nil || n < 0 || n > risk.MaxMinAge {
			problem(&f.MinAge, "adm.risk.err_min_age")
		}
		cfg.MinAge = n
	}
	f.ScreeningMaxAge.Value = strings.TrimSpace(r.PostFormValue("screening_max_age_days"))
	days, err := strconv.Atoi(f.ScreeningMaxAge.Value)
	if err != nil || days < 1 || days > risk.MaxScreeningMaxAgeDays {
		problem(&f.ScreeningMaxAge, "adm.risk.err_screening_age")
	}
	// The default is left out of the document (0), which devices of an
	// earlier release, refusing settings they do not know, still install.
	if days != risk.DefaultScreeningMaxAgeDays {
		cfg.ScreeningMaxAgeDays = days
	}
	f.FaceMismatch = r.PostFormValue("face_mismatch")
	f.RetriesExhausted = r.PostFormValue("retries_exhausted")
	cfg.FaceMismatch = risk.MismatchPolicy(f.FaceMismatch)
	cfg.RetriesExhausted = risk.Decision(f.RetriesExhausted)
	if cfg.FaceMismatch != risk.MismatchRetry && cfg.FaceMismatch != risk.MismatchReject {
		f.Problems = append(f.Problems, riskProblem{Key: "adm.risk.err_choice", Field: "face_mismatch"})
	}
	if cfg.RetriesExhausted != risk.Reject && cfg.RetriesExhausted != risk.Review {
		f.Problems = append(f.Problems, riskProblem{Key: "adm.risk.err_choice", Field: "retries_exhausted"})
	}
	return f, cfg
}

// riskPreview is how the latest submissions would have been decided.
type riskPreview struct {
	Considered int // submissions looked at
	Rebuilt    int // whose risk input could be rebuilt
	Missing    int // without it (fields expired, no engine result)
	// Reproduced counts rebuilt cases that the current settings decide as
	// recorded: how far the rebuild can be trusted.
	Reproduced int
	Changed    int
	Decisions  []string
	// Matrix[i][j] counts cases recorded as Decisions[i] and decided
	// Decisions[j] under the new settings.
	Matrix   [][]int
	Examples []previewExample
	Took     time.Duration
}

type previewExample struct {
	ID                 string
	ReceivedAt         time.Time
	Before, After      string
	ScoreBefore, Score float64
}

// previewDecisions are the decisions in the preview's order.
var previewDecisions = []string{string(risk.Approve), string(risk.Review), string(risk.Escalate), string(risk.Reject)}

// previewRisk decides the latest submissions again under cfg (and under
// cur, to check the rebuild).
func (c *Console) previewRisk(ctx context.Context, cur, cfg risk.Config) (*riskPreview, error) {
	start := time.Now()
	cases, _, err := c.cfg.Store.Queue(ctx, central.QueueFilter{Newest: true, Limit: previewCases})
	if err != nil {
		return nil, fmt.Errorf("listing the latest submissions: %w", err)
	}
	p := &riskPreview{Decisions: previewDecisions, Matrix: make([][]int, len(previewDecisions))}
	for i := range p.Matrix {
		p.Matrix[i] = make([]int, len(previewDecisions))
	}
	idx := func(d string) int { return slices.Index(previewDecisions, d) }
	for _, cs := range cases {
		p.Considered++
		sub, err := c.cfg.Store.Upload(ctx, cs.Ref.DeviceID, cs.Ref.Key)
		if errors.Is(err, central.ErrNotFound) { // erased meanwhile
			p.Missing++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading a submission: %w", err)
		}
		in, ok := riskInputFrom(sub.Payload)
		if !ok {
			p.Missing++
			continue
		}
		again, err1 := risk.Evaluate(cur, in)
		res, err2 := risk.Evaluate(cfg, in)
		if err1 != nil || err2 != nil { // an input the rebuild got wrong
			p.Missing++
			continue
		}
		p.Rebuilt++
		recorded := cs.Summary.Decision
		if string(again.Decision) == recorded {
			p.Reproduced++
		}
		i, j := idx(recorded), idx(string(res.Decision))
		if i >= 0 && j >= 0 {
			p.Matrix[i][j]++
		}
		if string(res.Decision) != recorded {
			p.Changed++
			if len(p.Examples) < 20 {
				p.Examples = append(p.Examples, previewExample{ID: cs.ID, ReceivedAt: cs.ReceivedAt, Before: recorded, After: string(res.Decision),
					ScoreBefore: cs.Summary.Score, Score: res.Score})
			}
		}
	}
	p.Took = time.Since(start).Round(time.Millisecond)
	return p, nil
}
