package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// routeReview registers the queue, the case view and the decisions
// (case.go, decide.go).
func (c *Console) routeReview() {
	c.route("GET /console/queue", central.RoleAuditor, c.queuePage)
	c.route("POST /console/queue", central.RoleAuditor, c.queueForm)
	c.routeCase()
}

// SLA bands of a case's age in the queue: under slaGreen green, under
// slaAmber amber, red beyond.
const (
	slaGreen = 4 * time.Hour
	slaAmber = 24 * time.Hour
)

// queuePageSize is how many cases one queue page lists.
const queuePageSize = 50

// AuditSearch is the audit action of a search by person in the queue.
const AuditSearch = central.AuditSearch

// queueRow is one case as the queue lists it.
type queueRow struct {
	central.Case
	Href    string
	Branch  string
	Age     string
	SLA     string // green, amber, red
	SLAKey  string // the SLA band in words
	Reasons []string
}

type queueData struct {
	Rows          []queueRow
	Total         int
	From, To      int // 1-based positions shown
	Prev, Next    string
	Q             url.Values
	Branches      []string
	Devices       []string
	Decisions     []string
	States        []string
	Reasons       []string
	SearchKinds   []string
	SearchEnabled bool
	Invalid       string // a catalogue key for a filter that did not parse
	NoMatch       bool   // a search term that indexes to nothing
}

var (
	queueDecisions = []string{"review", "escalate", "unknown"}
	queueStates    = []string{string(central.ReviewOpen), string(central.ReviewClaimed), string(central.ReviewSecond), string(central.ReviewDecided), string(central.ReviewOverride)}
	searchKinds    = []string{string(central.IdentNIK), string(central.IdentDocumentNumber), string(central.IdentName)}
)

// reasonCodes are the engine's reason codes (engine/risk) and the hosted
// flow's own (SELFIE_UPLOADED, FACE_CHALLENGE_NOT_DONE), for the filter and
// for their words in the catalogues ("reason.<CODE>"), and central's for a
// device decision it did not trust (distrustCodes).
var reasonCodes = append([]string{
	"WATCHLIST_HIT", "WATCHLIST_POTENTIAL_MATCH", "SCREENING_STALE", "HOLDER_UNDERAGE", "DOC_EXPIRED", "DOC_TAMPERED", "DOC_TAMPER_SUSPECTED",
	"DOC_SCREEN_REPLAY", "DOC_PRINTED_COPY", "DOC_REPRODUCTION_SUSPECTED", "DOC_LIVENESS_FAILED", "DOC_IMAGE_QUALITY",
	"DATA_CHECKS_FAILED", "FACE_MISMATCH", "FACE_MATCH_LOW", "FACE_LIVENESS_FAILED", "FACE_LIVENESS_DOUBT", "FACE_FEED_SUSPECT",
	"FACE_CHALLENGE_FAILED", "FACE_CHALLENGE_IDENTITY", "FACE_CHALLENGE_REPRODUCTION", "FACE_CHALLENGE_PASSED", "NO_FACE", "MULTIPLE_FACES", "SELFIE_IMAGE_QUALITY",
	"SELFIE_UPLOADED", "FACE_CHALLENGE_NOT_DONE",
	"DEVICE_BLOCKED", "DEVICE_WARNING", "RETRIES_EXHAUSTED", "SCORE_BELOW_APPROVE", "SCORE_BELOW_REVIEW", "NO_SIGNALS",
	"SIGNAL_MISSING_DATA_CHECKS", "SIGNAL_MISSING_DEVICE_INTEGRITY", "SIGNAL_MISSING_DOC_AUTHENTICITY",
	"SIGNAL_MISSING_DOC_LIVENESS", "SIGNAL_MISSING_FACE_LIVENESS", "SIGNAL_MISSING_FACE_MATCH", "SIGNAL_MISSING_SANCTIONS",
}, distrustCodes...)

// stateDecisions are the engine decisions the queue lists in state s by
// default: pending overrides whatever the engine decided (of its own
// decisions and of reviewers').
func stateDecisions(s string) []string {
	if s == string(central.ReviewOverride) {
		return nil
	}
	return queueDecisions
}

// caseHref is the case view's path.
func caseHref(ref central.SubmissionRef) string {
	return "/console/cases/" + url.PathEscape(ref.DeviceID) + "/" + url.PathEscape(ref.Key)
}

// queuePage lists the cases waiting for a person: complete submissions the
// engine sent to review or escalate and not decided yet, oldest first.
// It makes one Queue call, two for a page by cursor (queueWindow), plus
// the cached device list for branches.
func (c *Console) queuePage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := queueData{Q: q, Decisions: queueDecisions, States: queueStates, Reasons: reasonCodes,
		SearchKinds: searchKinds, SearchEnabled: c.cfg.Index != nil}
	f := central.QueueFilter{Limit: queuePageSize,
		States:    []central.ReviewState{central.ReviewOpen, central.ReviewClaimed, central.ReviewSecond},
		Decisions: queueDecisions}
	if s := q.Get("state"); s != "" {
		if !slices.Contains(queueStates, s) {
			d.Invalid = "queue.invalid"
		}
		f.States = []central.ReviewState{central.ReviewState(s)}
		f.Decisions = stateDecisions(s)
	}
	if s := q.Get("decision"); s != "" {
		f.Decisions = []string{s}
	}
	f.Reason = q.Get("reason")
	f.DocType = strings.TrimSpace(q.Get("doc_type"))
	f.Country = strings.ToUpper(strings.TrimSpace(q.Get("country")))
	if !storable(f.Reason, f.DocType, f.Country) || !storable(f.Decisions...) {
		d.Invalid = "queue.invalid"
	}
	if q.Get("mine") == "1" {
		f.Assignee = v.User.Name
	}
	var err error
	if f.ReceivedAfter, err = parseDay(q.Get("from")); err != nil {
		d.Invalid = "queue.invalid"
	}
	if f.ReceivedBefore, err = parseDay(q.Get("to")); err != nil {
		d.Invalid = "queue.invalid"
	} else if !f.ReceivedBefore.IsZero() {
		f.ReceivedBefore = f.ReceivedBefore.AddDate(0, 0, 1) // "to" is inclusive
	}
	var cur *queueCursor
	if s := q.Get("cursor"); s != "" {
		if cur, err = c.openCursor(s); err != nil {
			return err
		}
	}

	// Devices: the viewer's scope, narrowed by the branch and device
	// filters. An empty set matches nothing (never "every device").
	devs, err := c.devices(ctx)
	if err != nil {
		return err
	}
	branches := map[string]bool{}
	var allowed []string
	for id, dev := range devs {
		if !v.User.InScope(dev.Branch) {
			continue
		}
		branches[dev.Branch] = true
		if !central.IsHostedDevice(id) { // the filter lists devices; hosted cases go with their branch
			d.Devices = append(d.Devices, id)
		}
		if b := q.Get("branch"); b != "" && dev.Branch != b {
			continue
		}
		if id2 := q.Get("device"); id2 != "" && id != id2 {
			continue
		}
		allowed = append(allowed, id)
	}
	for b := range branches {
		d.Branches = append(d.Branches, b)
	}
	slices.Sort(d.Branches)
	slices.Sort(d.Devices)
	narrowed := len(v.User.Scopes) > 0 || q.Get("branch") != "" || q.Get("device") != ""
	if narrowed {
		f.DeviceIDs = allowed
	}

	if tok, kind, searching := c.search(q, v); searching {
		d.NoMatch = tok == nil
		f.Tokens = [][]byte{tok}
		// A search by person reads personal data: audited, without the
		// term itself.
		if err := c.audit(ctx, v, AuditSearch, "queue", nil, map[string]string{"kind": string(kind)}); err != nil {
			return err
		}
	}
	var pg queueWindow
	if d.Invalid == "" && !d.NoMatch && !(narrowed && len(allowed) == 0) {
		if pg, err = c.queueWindow(ctx, f, cur); err != nil {
			return fmt.Errorf("reading the queue: %w", err)
		}
		now := c.cfg.Now()
		for _, cs := range pg.cases {
			row := queueRow{Case: cs, Href: caseHref(cs.Ref), Branch: devs[cs.Ref.DeviceID].Branch, Reasons: cs.Summary.Reasons}
			age := now.Sub(cs.ReceivedAt)
			row.Age = fmtAge(age)
			switch {
			case age < slaGreen:
				row.SLA, row.SLAKey = "green", "sla.green"
			case age < slaAmber:
				row.SLA, row.SLAKey = "amber", "sla.amber"
			default:
				row.SLA, row.SLAKey = "red", "sla.red"
			}
			d.Rows = append(d.Rows, row)
		}
	}
	if n := len(pg.cases); n > 0 {
		d.From, d.To = pg.pos+1, pg.pos+n
		// Counted after the page was read: cases may have left since.
		d.Total = max(pg.total, d.To)
		if pg.after {
			d.Next = c.cursorLink(q, queueCursor{Pos: pg.pos + n}, pg.cases[n-1])
		}
		if pg.before {
			d.Prev = c.cursorLink(q, queueCursor{Back: true, Pos: max(pg.pos-queuePageSize, 0)}, pg.cases[0])
		}
	} else if cur != nil {
		d.Prev = c.cursorLink(q, queueCursor{}, central.Case{}) // past the end: the first page
	}
	return c.render(w, r, v, http.StatusOK, "queue.html", d)
}

// The queue pages by keyset: a page's Next and Prev links carry a cursor,
// the case next to the page they lead to, and the queue reads the page
// from that case (QueueFilter.After) instead of skipping the cases
// before it (an offset, which costs what it skips: 138 ms at case 15,000
// of 100,000 on PostgreSQL). Its one order, oldest first, keyset-pages
// with every filter.

// queueCursor is where a queue page starts: after the case Dev/Key
// received at At, or before it (Back), Pos cases into the queue when the
// link was made (the page's place, shown as "cases 51-100"). It travels
// sealed with the console's key (cursorContext), so a URL names no
// device or submission and a cursor cannot be made or changed by hand.
type queueCursor struct {
	Back bool   `json:"b,omitempty"`
	Pos  int    `json:"p"`
	At   int64  `json:"t"` // unix ns
	Dev  string `json:"d"`
	Key  string `json:"k"`
}

const (
	cursorContext = "queue-cursor"
	// maxCursor bounds the parameter read: a cursor is about 150
	// characters.
	maxCursor = 1024
)

// cursorLink is the queue's URL with q's filters and a cursor at cs; the
// zero Case is the first page.
func (c *Console) cursorLink(q url.Values, cur queueCursor, cs central.Case) string {
	q2 := url.Values{}
	for k, vs := range q {
		q2[k] = vs
	}
	q2.Del("cursor")
	q2.Del("msg")
	q2.Del("page") // before cursors: offsets
	if cs.Ref.DeviceID != "" {
		cur.At, cur.Dev, cur.Key = cs.ReceivedAt.UnixNano(), cs.Ref.DeviceID, cs.Ref.Key
		b, err := json.Marshal(cur)
		if err != nil {
			panic(err) // a struct of strings and numbers
		}
		q2.Set("cursor", base64.RawURLEncoding.EncodeToString(c.sealer.Seal(b, cursorContext)))
	}
	if len(q2) == 0 {
		return "/console/queue"
	}
	return "/console/queue?" + q2.Encode()
}

// openCursor reads a cursor parameter; a cursor that does not open (not
// one the console made, changed, or made with another key) is a 400.
func (c *Console) openCursor(s string) (*queueCursor, error) {
	bad := func(cause error) error {
		return httpx.Wrap(cause, http.StatusBadRequest, "queue_cursor", "the queue page's link is not valid")
	}
	if len(s) > maxCursor {
		return nil, bad(errors.New("cursor too long"))
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad(err)
	}
	plain, err := c.sealer.Open(raw, cursorContext)
	if err != nil {
		return nil, bad(err)
	}
	var cur queueCursor
	if err := json.Unmarshal(plain, &cur); err != nil {
		return nil, bad(err)
	}
	if cur.Pos < 0 || cur.Dev == "" || cur.Key == "" {
		return nil, bad(fmt.Errorf("cursor %+v", cur))
	}
	return &cur, nil
}

// queueWindow is one page of the queue and where it stands.
type queueWindow struct {
	cases []central.Case
	pos   int // cases before the page
	total int
	// after and before: cases follow the page, precede it.
	after, before bool
}

// queueWindow reads f's page at cur (nil: the first page) and the
// queue's total. A cursor's page is read one case longer, to know
// whether there is another page that way; a page back that comes up
// short (cases before it left the queue) is the first page instead.
func (c *Console) queueWindow(ctx context.Context, f central.QueueFilter, cur *queueCursor) (queueWindow, error) {
	f.Limit = queuePageSize
	if cur != nil {
		p := f
		p.After = &central.Case{ReceivedAt: time.Unix(0, cur.At).UTC(), Ref: central.SubmissionRef{DeviceID: cur.Dev, Key: cur.Key}}
		p.Newest, p.Limit = cur.Back, queuePageSize+1
		cases, _, err := c.cfg.Store.Queue(ctx, p)
		if err != nil {
			return queueWindow{}, err
		}
		more := len(cases) > queuePageSize
		cases = cases[:min(len(cases), queuePageSize)]
		w := queueWindow{cases: cases, pos: cur.Pos, after: more, before: true}
		if cur.Back {
			slices.Reverse(cases)
			w.after, w.before = true, more
			if !more {
				w.pos = 0
			}
		}
		if !cur.Back || len(cases) == queuePageSize {
			// The total alone: one case read, and counted.
			t := f
			t.Limit = 1
			_, w.total, err = c.cfg.Store.Queue(ctx, t)
			return w, err
		}
	}
	cases, total, err := c.cfg.Store.Queue(ctx, f)
	return queueWindow{cases: cases, total: total, after: len(cases) < total}, err
}

// queueFilters are the fields of the queue's filter form that travel in
// the queue's URL; "s" is a search's sealed token (see search).
var queueFilters = []string{"state", "decision", "reason", "branch", "device", "from", "to", "doc_type", "country", "mine", "kind", "s"}

// queueForm takes the queue's filter form, which posts so that a search
// term (a NIK, a document number, a name) is never in a URL (browser
// history, a proxy's log, the sign-in page's next), and redirects to the
// queue with the filters and, for a search, the term's blind-index token
// sealed to the session ("s"; an empty token when the term indexes to
// nothing).
func (c *Console) queueForm(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	q := url.Values{}
	for _, k := range queueFilters {
		if s := strings.TrimSpace(r.PostFormValue(k)); s != "" {
			q.Set(k, s)
		}
	}
	if term := strings.TrimSpace(r.PostFormValue("q")); term != "" && c.cfg.Index != nil {
		tok, ok := c.cfg.Index(searchKind(q.Get("kind")), term)
		if !ok {
			tok = nil
		}
		q.Set("s", base64.RawURLEncoding.EncodeToString(c.sealer.Seal(tok, searchContext(v))))
	}
	target := "/console/queue"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return c.seeOther(w, r, target, "")
}

// searchContext binds a search's sealed token to the session it was made
// in: a copied URL searches nothing elsewhere.
func searchContext(v *Viewer) string {
	return "search:" + base64.RawURLEncoding.EncodeToString(v.Session.Hash)
}

func searchKind(s string) central.IdentifierKind {
	if !slices.Contains(searchKinds, s) {
		return central.IdentNIK
	}
	return central.IdentifierKind(s)
}

// search reads a search by person from the queue's URL: "s", the token
// queueForm sealed, or a term "q" of "kind" typed into the URL by hand.
// searching is false without either; tok is nil when nothing can match
// (the term indexes to nothing, no index, a token of another session).
func (c *Console) search(q url.Values, v *Viewer) (tok []byte, kind central.IdentifierKind, searching bool) {
	kind = searchKind(q.Get("kind"))
	if s := q.Get("s"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err == nil {
			tok, err = c.sealer.Open(raw, searchContext(v))
		}
		if err != nil || len(tok) == 0 {
			return nil, kind, true
		}
		return tok, kind, true
	}
	term := strings.TrimSpace(q.Get("q"))
	if term == "" {
		return nil, kind, false
	}
	if c.cfg.Index != nil {
		if tok, ok := c.cfg.Index(kind, term); ok {
			return tok, kind, true
		}
	}
	return nil, kind, true
}

// parseDay reads a YYYY-MM-DD date (UTC midnight); empty is the zero time.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse("2006-01-02", s)
}

// fmtAge writes a duration the way a queue shows age: 3d 4h, 5h 12m, 7m.
func fmtAge(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dm", int(d/time.Minute))
}
