package console

import (
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// The dashboard: submissions per day by decision, the auto-approval rate,
// the review backlog by age, reason codes, the time from capture to
// central and to a reviewer's decision, and the sync lag per branch, over
// the cases the viewer's scope covers. Charts are drawn by Chart.js
// (web/static/admin.js) from the JSON the page embeds, and every chart is
// a table too, which is what shows without JavaScript.

// exportHref is the CSV export of the queue as filtered by q (the queue
// page's query), without the parameters of the page itself.
func exportHref(q url.Values) template.URL {
	q2 := url.Values{}
	for k, vs := range q {
		if k != "cursor" && k != "page" && k != "msg" {
			q2[k] = vs
		}
	}
	return template.URL("/console/export.csv?" + q2.Encode())
}

// AuditExport is the audit action of a CSV export of the queue.
const AuditExport = "export"

func (c *Console) routeAdminDashboard() {
	c.route("GET /console/dashboard", central.RoleAuditor, c.dashboardPage)
	c.route("GET /console/export.csv", central.RoleAuditor, c.exportCSV)
}

// Dashboard bounds.
const (
	defaultDashDays = 30
	maxDashDays     = 90
	// maxDashCases caps the cases one dashboard reads (the newest of the
	// window); the page says when the window held more.
	maxDashCases = 20000
	topReasons   = 15
)

// dashSeries is one dataset of a chart.
type dashSeries struct {
	Label string    `json:"label"`
	Data  []float64 `json:"data"`
	// Missing marks points with nothing to measure (a day without cases),
	// drawn as gaps rather than zeros.
	Missing []bool `json:"missing,omitempty"`
}

// dashChart is one chart: its kind for Chart.js, the labels of its x axis,
// its datasets, and its caption (the table's too).
type dashChart struct {
	ID      string       `json:"id"`
	Kind    string       `json:"kind"` // bar, stacked, line, hbar
	Title   string       `json:"title"`
	Unit    string       `json:"unit,omitempty"`
	Labels  []string     `json:"labels"`
	Series  []dashSeries `json:"series"`
	Summary string       `json:"-"` // a sentence under the title
}

type dashPage struct {
	Days      int
	DayChoice []int
	From, To  time.Time
	Cases     int
	Capped    bool
	Total     int // in the window, before the cap
	Backlog   int
	Oldest    time.Duration
	Approval  float64 // auto-approval rate over the window
	Charts    []dashChart
}

func (c *Console) dashboardPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	days := defaultDashDays
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDashDays {
			return fail(http.StatusBadRequest, "bad_request")
		}
		days = n
	}
	release, err := c.bulkRead()
	if err != nil {
		return err
	}
	defer release()
	p, err := c.dashboard(r.Context(), v, days)
	if err != nil {
		return err
	}
	return c.render(w, r, v, http.StatusOK, "admin_dashboard.html", p)
}

// scopeFilter narrows f to v's devices; false when v's scope holds no
// device (nothing to show).
func (c *Console) scopeFilter(ctx context.Context, v *Viewer, f *central.QueueFilter) (bool, error) {
	ids, all, err := c.scopedDevices(ctx, v)
	if err != nil {
		return false, err
	}
	if all {
		return true, nil
	}
	if len(ids) == 0 {
		return false, nil
	}
	if len(f.DeviceIDs) > 0 { // keep the asked devices that are in scope
		var keep []string
		for _, id := range f.DeviceIDs {
			if slices.Contains(ids, id) {
				keep = append(keep, id)
			}
		}
		if len(keep) == 0 {
			return false, nil
		}
		ids = keep
	}
	f.DeviceIDs = ids
	return true, nil
}

// collect reads the cases matching f, at most limit; total is how many
// match.
func (c *Console) collect(ctx context.Context, f central.QueueFilter, limit int) (cases []central.Case, total int, err error) {
	if cases, total, err = central.QueueAll(ctx, c.cfg.Store, f, limit); err != nil {
		return nil, 0, fmt.Errorf("reading cases: %w", err)
	}
	return cases, total, nil
}

// backlogBuckets are the ages the backlog chart counts cases by.
var backlogBuckets = []struct {
	key  string
	upTo time.Duration
}{
	{"adm.dash.age_1h", time.Hour}, {"adm.dash.age_4h", 4 * time.Hour}, {"adm.dash.age_24h", 24 * time.Hour},
	{"adm.dash.age_3d", 72 * time.Hour}, {"adm.dash.age_more", 1 << 62},
}

// dashDecisions are the engine's decisions in the charts' order.
var dashDecisions = []string{"approve", "review", "escalate", "reject", "unknown"}

func (c *Console) dashboard(ctx context.Context, v *Viewer, days int) (*dashPage, error) {
	now := c.cfg.Now().UTC()
	from := now.Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	p := &dashPage{Days: days, DayChoice: []int{7, 30, 90}, From: from, To: now}
	f := central.QueueFilter{ReceivedAfter: from, Newest: true}
	ok, err := c.scopeFilter(ctx, v, &f)
	if err != nil {
		return nil, err
	}
	var cases []central.Case
	if ok {
		if cases, p.Total, err = c.collect(ctx, f, maxDashCases); err != nil {
			return nil, err
		}
	}
	p.Cases, p.Capped = len(cases), p.Total > len(cases)
	devs, err := c.devices(ctx)
	if err != nil {
		return nil, err
	}
	T := func(key string, args ...any) string { return c.T(v, key, args...) }

	// Per day: decisions, auto-approval, capture→central, capture→decision.
	dayLabels := make([]string, days)
	for i := range dayLabels {
		dayLabels[i] = from.AddDate(0, 0, i).Format("2006-01-02")
	}
	perDay := map[string][]float64{}
	for _, d := range dashDecisions {
		perDay[d] = make([]float64, days)
	}
	toCentral := make([][]float64, days)
	toDecision := make([][]float64, days)
	reasons := map[string]int{}
	lagByBranch := map[string][]float64{}
	approved := 0
	for _, cs := range cases {
		i := int(cs.ReceivedAt.UTC().Sub(from) / (24 * time.Hour))
		if i < 0 || i >= days {
			continue
		}
		d := cs.Summary.Decision
		if !slices.Contains(dashDecisions, d) {
			d = "unknown"
		}
		perDay[d][i]++
		if d == "approve" {
			approved++
		}
		for _, rc := range cs.Summary.Reasons {
			reasons[rc]++
		}
		// Times from capture are the device's claim: one dated by a clock
		// found wrong (2000-01-01, or after its receipt) would swamp them,
		// so it is left out, as are captures dated before their device was
		// enrolled (by central's clock), the only bound known without
		// opening the payload.
		if !cs.CreatedAt.IsZero() && central.ClockSkew(cs.CreatedAt, cs.ReceivedAt, devs[cs.Ref.DeviceID].EnrolledAt) == 0 {
			lag := max(cs.ReceivedAt.Sub(cs.CreatedAt), 0).Minutes()
			toCentral[i] = append(toCentral[i], lag)
			b := devs[cs.Ref.DeviceID].Branch
			lagByBranch[b] = append(lagByBranch[b], lag)
			if !cs.Review.DecidedAt.IsZero() {
				toDecision[i] = append(toDecision[i], max(cs.Review.DecidedAt.Sub(cs.CreatedAt), 0).Minutes())
			}
		}
	}
	if len(cases) > 0 {
		p.Approval = float64(approved) / float64(len(cases))
	}
	byDay := dashChart{ID: "per-day", Kind: "stacked", Title: T("adm.dash.per_day"), Labels: dayLabels}
	rate := dashChart{ID: "approval", Kind: "line", Title: T("adm.dash.approval"), Unit: "%", Labels: dayLabels,
		Series: []dashSeries{{Label: T("adm.dash.approval_rate"), Data: make([]float64, days), Missing: make([]bool, days)}}}
	for _, d := range dashDecisions {
		byDay.Series = append(byDay.Series, dashSeries{Label: T("adm.decision." + d), Data: perDay[d]})
	}
	for i := range days {
		var n float64
		for _, d := range dashDecisions {
			n += perDay[d][i]
		}
		if n > 0 {
			rate.Series[0].Data[i] = dashRound(100 * perDay["approve"][i] / n)
		} else {
			rate.Series[0].Missing[i] = true
		}
	}
	timing := dashChart{ID: "timing", Kind: "line", Title: T("adm.dash.timing"), Unit: T("adm.dash.minutes"), Labels: dayLabels}
	for _, s := range []struct {
		key  string
		vals [][]float64
		p    float64
	}{{"adm.dash.central_p50", toCentral, .5}, {"adm.dash.central_p95", toCentral, .95},
		{"adm.dash.decision_p50", toDecision, .5}, {"adm.dash.decision_p95", toDecision, .95}} {
		ser := dashSeries{Label: T(s.key), Data: make([]float64, days), Missing: make([]bool, days)}
		for i, vs := range s.vals {
			ser.Data[i] = dashRound(admPercentile(admSorted(vs), s.p))
			ser.Missing[i] = len(vs) == 0
		}
		timing.Series = append(timing.Series, ser)
	}

	// The backlog: cases waiting for a person, by age.
	backlog := dashChart{ID: "backlog", Kind: "bar", Title: T("adm.dash.backlog"), Series: []dashSeries{{Label: T("adm.dash.cases"), Data: make([]float64, len(backlogBuckets))}}}
	for _, b := range backlogBuckets {
		backlog.Labels = append(backlog.Labels, T(b.key))
	}
	bf := central.QueueFilter{States: []central.ReviewState{central.ReviewOpen, central.ReviewClaimed, central.ReviewSecond},
		Decisions: []string{"review", "escalate", "unknown"}}
	// Counted per age band by the store (Queue's total), so the backlog
	// costs a few cheap calls however long it is.
	if ok, err := c.scopeFilter(ctx, v, &bf); err != nil {
		return nil, err
	} else if ok {
		bf.Limit = 1
		oldest, total, err := c.cfg.Store.Queue(ctx, bf) // oldest first
		if err != nil {
			return nil, fmt.Errorf("reading the backlog: %w", err)
		}
		p.Backlog = total
		if len(oldest) > 0 {
			p.Oldest = now.Sub(oldest[0].ReceivedAt)
		}
		var younger time.Duration
		for j, bk := range backlogBuckets {
			// Band j holds cases received in [now-upTo, now-younger); the
			// first has no upper end (a device clock ahead), the last no
			// lower one.
			f := bf
			if j > 0 {
				f.ReceivedBefore = now.Add(-younger)
			}
			if j == len(backlogBuckets)-1 {
				f.ReceivedAfter = time.Time{}
			} else {
				f.ReceivedAfter = now.Add(-bk.upTo)
			}
			if total > 0 {
				_, n, err := c.cfg.Store.Queue(ctx, f)
				if err != nil {
					return nil, fmt.Errorf("reading the backlog: %w", err)
				}
				backlog.Series[0].Data[j] = float64(n)
			}
			younger = bk.upTo
		}
	}

	// Reason codes, most frequent first.
	rc := dashChart{ID: "reasons", Kind: "hbar", Title: T("adm.dash.reasons"), Series: []dashSeries{{Label: T("adm.dash.cases")}}}
	codes := make([]string, 0, len(reasons))
	for code := range reasons {
		codes = append(codes, code)
	}
	sort.Slice(codes, func(i, j int) bool {
		if reasons[codes[i]] != reasons[codes[j]] {
			return reasons[codes[i]] > reasons[codes[j]]
		}
		return codes[i] < codes[j]
	})
	for _, code := range codes[:min(len(codes), topReasons)] {
		label := code
		if key := "reason." + code; c.cat.has(key) {
			label = T(key)
		}
		rc.Labels = append(rc.Labels, label)
		rc.Series[0].Data = append(rc.Series[0].Data, float64(reasons[code]))
	}

	// Sync lag per branch (capture on the device to receipt at central),
	// and what the branch's devices still hold.
	lag := dashChart{ID: "lag", Kind: "bar", Title: T("adm.dash.lag"), Unit: T("adm.dash.minutes"),
		Series: []dashSeries{{Label: T("adm.dash.lag_p50")}, {Label: T("adm.dash.lag_p95")}, {Label: T("adm.dash.queued")}}}
	queued := map[string]int{}
	for _, d := range devs {
		if d.Status != nil && v.User.InScope(d.Branch) {
			queued[d.Branch] += d.Status.QueueDepth
			if _, ok := lagByBranch[d.Branch]; !ok {
				lagByBranch[d.Branch] = nil
			}
		}
	}
	branches := make([]string, 0, len(lagByBranch))
	for b := range lagByBranch {
		branches = append(branches, b)
	}
	sort.Strings(branches)
	for _, b := range branches {
		label := b
		if label == "" {
			label = T("adm.dash.no_branch")
		}
		lag.Labels = append(lag.Labels, label)
		s := admSorted(lagByBranch[b])
		lag.Series[0].Data = append(lag.Series[0].Data, dashRound(admPercentile(s, .5)))
		lag.Series[1].Data = append(lag.Series[1].Data, dashRound(admPercentile(s, .95)))
		lag.Series[2].Data = append(lag.Series[2].Data, float64(queued[b]))
	}
	p.Charts = []dashChart{byDay, rate, backlog, rc, timing, lag}
	return p, nil
}

func dashRound(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// exportCSV writes the cases matching the queue's filters (the queue page's
// query parameters, with its defaults) as CSV: what the queue lists (no
// name, NIK or document number: the queue never shows them), within the
// viewer's scope, and records the export.
func (c *Console) exportCSV(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	f, ok, err := c.exportFilter(r, v)
	if err != nil {
		return err
	}
	release, err := c.bulkRead()
	if err != nil {
		return err
	}
	defer release()
	var cases []central.Case
	total := 0
	if ok {
		if cases, total, err = c.collect(ctx, f, maxDashCases); err != nil {
			return err
		}
	}
	devs, err := c.devices(ctx)
	if err != nil {
		return err
	}
	// The filter is recorded without a search term, which may name a
	// person, or its sealed token.
	q := r.URL.Query()
	q.Del("q")
	q.Del("s")
	// With the scope the counts cover (none: every branch), so that the
	// audit view shows them only to users who see all of it.
	if err := c.audit(ctx, v, AuditExport, "queue", nil, map[string]any{"filter": q.Encode(), "search": r.URL.Query().Get("q") != "" || r.URL.Query().Get("s") != "",
		"rows": len(cases), "matching": total, "scopes": v.User.Scopes}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="kyc-cases-`+c.cfg.Now().UTC().Format("20060102-150405")+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"submission_id", "device_id", "branch", "captured_at", "received_at", "decision", "score", "reasons",
		"doc_type", "country", "attempt", "screening_hits", "device_verdict", "attestation_fresh", "review_state", "assignee",
		"outcome", "reject_reason", "decided_by", "decided_at", "second_by"})
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, cs := range cases {
		st := cs.Review.State
		if st == "" {
			st = central.ReviewOpen
		}
		_ = cw.Write(csvSafe([]string{cs.ID, cs.Ref.DeviceID, devs[cs.Ref.DeviceID].Branch, tm(cs.CreatedAt), tm(cs.ReceivedAt),
			cs.Summary.Decision, strconv.FormatFloat(cs.Summary.Score, 'f', -1, 64), strings.Join(cs.Summary.Reasons, " "),
			cs.Summary.DocType, cs.Summary.Country, strconv.Itoa(cs.Summary.Attempt), strconv.Itoa(cs.Summary.Hits), cs.Verdict,
			strconv.FormatBool(cs.Fresh), string(st), cs.Review.Assignee, cs.Review.Outcome, cs.Review.Reason,
			cs.Review.DecidedBy, tm(cs.Review.DecidedAt), cs.Review.SecondBy}))
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses cells a spreadsheet would run as a formula (values come
// from devices): a part that starts, after spaces, with one of
// formulaStart gets a leading "'". The parts are the cell and what follows
// each ";" or tab in it: a spreadsheet whose list separator is ";"
// (Indonesian and most European locales) splits "x;=cmd" into two cells
// before reading them, whatever the file's commas say.
func csvSafe(row []string) []string {
	const formulaStart = "=+-@\t\r"
	for i, s := range row {
		if !strings.ContainsAny(s, formulaStart) {
			continue
		}
		var b strings.Builder
		part := true // at the start of a part
		for j := 0; j < len(s); j++ {
			if part {
				if rest := strings.TrimLeft(s[j:], " "); rest != "" && strings.IndexByte(formulaStart, rest[0]) >= 0 {
					b.WriteByte('\'')
				}
			}
			b.WriteByte(s[j])
			part = s[j] == ';' || s[j] == '\t'
		}
		row[i] = b.String()
	}
	return row
}

// exportFilter reads the queue page's filters as the queue does (queue.go):
// state and decision (by default the cases waiting for a person), reason,
// doc_type, country, mine, from and to (YYYY-MM-DD, to inclusive), branch
// and device within the viewer's scope, and a search by person (q, kind).
// ok is false when nothing can match.
func (c *Console) exportFilter(r *http.Request, v *Viewer) (f central.QueueFilter, ok bool, err error) {
	q := r.URL.Query()
	f = central.QueueFilter{States: []central.ReviewState{central.ReviewOpen, central.ReviewClaimed, central.ReviewSecond},
		Decisions: queueDecisions, Reason: q.Get("reason"), DocType: strings.TrimSpace(q.Get("doc_type")),
		Country: strings.ToUpper(strings.TrimSpace(q.Get("country")))}
	if s := q.Get("state"); s != "" {
		if !slices.Contains(queueStates, s) {
			return f, false, fail(http.StatusBadRequest, "bad_request")
		}
		f.States = []central.ReviewState{central.ReviewState(s)}
		f.Decisions = stateDecisions(s)
	}
	if s := q.Get("decision"); s != "" {
		f.Decisions = []string{s}
	}
	if !storable(f.Reason, f.DocType, f.Country) || !storable(f.Decisions...) {
		return f, false, fail(http.StatusBadRequest, "bad_request")
	}
	if q.Get("mine") == "1" {
		f.Assignee = v.User.Name
	}
	if f.ReceivedAfter, err = parseDay(q.Get("from")); err != nil {
		return f, false, fail(http.StatusBadRequest, "bad_request")
	}
	if f.ReceivedBefore, err = parseDay(q.Get("to")); err != nil {
		return f, false, fail(http.StatusBadRequest, "bad_request")
	} else if !f.ReceivedBefore.IsZero() {
		f.ReceivedBefore = f.ReceivedBefore.AddDate(0, 0, 1)
	}
	devs, err := c.devices(r.Context())
	if err != nil {
		return f, false, err
	}
	var allowed []string
	for id, d := range devs {
		if v.User.InScope(d.Branch) && (q.Get("branch") == "" || d.Branch == q.Get("branch")) && (q.Get("device") == "" || id == q.Get("device")) {
			allowed = append(allowed, id)
		}
	}
	if len(v.User.Scopes) > 0 || q.Get("branch") != "" || q.Get("device") != "" {
		if len(allowed) == 0 {
			return f, false, nil
		}
		f.DeviceIDs = allowed
	}
	if tok, _, searching := c.search(q, v); searching {
		if tok == nil {
			return f, false, nil
		}
		f.Tokens = [][]byte{tok}
	}
	return f, true, nil
}
