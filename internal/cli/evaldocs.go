package cli

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face/faceeval"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/internal/forgery"
	"github.com/openkyc/kyc/models"
)

// runEvalAll is `kyc eval`: faces, liveness or documents.
func runEvalAll(ctx context.Context, env *Env, args []string) (any, error) {
	if len(args) > 0 && args[0] == "documents" {
		return runEvalDocuments(ctx, env, args[1:])
	}
	return runEvalCommand(ctx, env, args)
}

// docScore is one check's result on one sample.
type docScore struct {
	Applicable bool    `json:"applicable"`
	Score      float64 `json:"score"`
}

// docSample is one benchmark sample as the document pipeline judged it.
type docSample struct {
	forgery.Sample
	Checks map[string]docScore `json:"checks"`
	Error  string              `json:"error,omitempty"`
}

// docRow is one line of the report: a category (or a group's total), the
// share of its samples flagged by each check and by any (the false-positive
// rate on genuine rows, the detection rate on attack rows), and the share
// a rejecting check fired on.
type docRow struct {
	Group    string            `json:"group"`
	Category string            `json:"category"`
	Metric   string            `json:"metric"`
	N        int               `json:"n"`
	Flagged  string            `json:"flagged"`
	Rejected string            `json:"rejected"`
	Checks   map[string]string `json:"checks"`
}

// docEvalResult is what `kyc eval documents` prints.
type docEvalResult struct {
	Data        string                `json:"data"`
	Split       string                `json:"split"`
	Seed        uint64                `json:"seed"`
	Fitted      bool                  `json:"fitted"`
	Calibration forensics.Calibration `json:"calibration"`
	// Targets restates issue 16's targets against the report.
	Targets []string `json:"targets"`
	// Checks measures each check on the reported half at its operating
	// point: false-positive rate on genuine documents, recall per attack
	// group, precision.
	Checks  []docCheckRow      `json:"checks"`
	Rows    []docRow           `json:"rows"`
	Skipped []forgery.Skipped  `json:"skipped"`
	Errors  []string           `json:"errors,omitempty"`
	DETPlot string             `json:"det_plot,omitempty"`
	Timing  map[string]float64 `json:"timings_ms"`
}

func runEvalDocuments(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "eval documents")
	data := fs.String("data", defaultDataDir(), "the shared data folder (mrz/passporteye, liveness/interfaces_cc0)")
	out := fs.String("out", "", "folder for det-documents.png and samples.json (and the rendered samples with --keep)")
	split := fs.String("split", "report", "which half to report: report, calibration or all")
	fit := fs.Bool("fit", false, "derive each check's operating point on the calibration half (instead of forensics.DefaultCalibration) and report with it")
	seed := fs.Uint64("seed", 1, "the benchmark's seed")
	limit := fs.Int("limit", 0, "use only the first N specimens of each half (0: all)")
	keep := fs.Bool("keep", false, "keep the rendered samples in --out/samples")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *split != "report" && *split != "calibration" && *split != "all" {
		return nil, Errorf(ExitUsage, "usage", "--split must be report, calibration or all")
	}
	start := time.Now()
	eng, err := openEngines(ctx, "")
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	reader, err := openLayoutOCR()
	if err != nil {
		return nil, err
	}
	defer reader.Close()

	dir, err := os.MkdirTemp("", "kyc-forgery-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if *keep {
		if *out == "" {
			return nil, Errorf(ExitUsage, "usage", "--keep needs --out")
		}
		dir = filepath.Join(*out, "samples")
	}
	build := *split // the half reported, or both to fit on one and report the other
	if *fit || build == "all" {
		build = ""
	}
	set, err := forgery.Build(ctx, forgery.Options{Data: *data, Dir: dir, Seed: *seed, Split: build, Limit: *limit},
		forgery.Tools{OCR: reader, Faces: eng.Guide}, func(s string) { fmt.Fprintln(env.Stderr, "eval documents:", s) })
	if err != nil {
		return nil, Errorf(ExitInput, "bad_document_set", "%v", err)
	}
	built := time.Now()
	res := docEvalResult{Data: *data, Split: *split, Seed: *seed, Skipped: set.Skipped, Calibration: forensics.DefaultCalibration(),
		Timing: map[string]float64{"build": ms(built.Sub(start))}}
	if res.Skipped == nil {
		res.Skipped = []forgery.Skipped{}
	}
	var samples []docSample
	for i, s := range set.Samples {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ds := docSample{Sample: s, Checks: map[string]docScore{}}
		img, err := readDocumentImage("image", s.Path)
		if err == nil {
			r, aerr := eng.Document.Analyze(ctx, img, nil, nil)
			img.Mat.Close()
			err = aerr
			if aerr == nil {
				for _, c := range append(r.Forensics.Checks, r.Liveness.Checks...) {
					ds.Checks[c.Name] = docScore{Applicable: c.Applicable, Score: c.Score}
				}
				r.Close()
			}
		}
		if err != nil {
			ds.Error = err.Error()
			res.Errors = append(res.Errors, fmt.Sprintf("%s (%s): %v", s.Specimen, s.Category.Name, err))
		}
		samples = append(samples, ds)
		if (i+1)%25 == 0 {
			fmt.Fprintf(env.Stderr, "eval documents: %d of %d samples analysed\n", i+1, len(set.Samples))
		}
	}
	res.Timing["analyse"] = ms(time.Since(built))
	if *fit {
		res.Calibration = fitCalibration(samples)
		res.Fitted = true
	}
	var report []docSample
	for _, s := range samples {
		if *split == "all" || (*split == "calibration") == s.Calibration {
			report = append(report, s)
		}
	}
	res.Rows = docTable(report, res.Calibration)
	res.Checks = checkTable(report, res.Calibration)
	res.Targets = docTargets(report, res.Calibration)
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return nil, err
		}
		png, err := docDET(report, res.Calibration, *split)
		if err != nil {
			return nil, err
		}
		res.DETPlot = filepath.Join(*out, "det-documents.png")
		if err := faceeval.WriteFile(res.DETPlot, png); err != nil {
			return nil, err
		}
		if err := writeJSONFile(filepath.Join(*out, "samples.json"), samples); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// openLayoutOCR loads the OCR the benchmark finds the page's text with.
func openLayoutOCR() (*ocr.Engine, error) {
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	cfg := ocr.Config{Threads: 1, Workers: 2, RecBatch: 1}
	for name, dst := range map[string]*string{"ppocr-det": &cfg.DetModel, "ppocr-rec": &cfg.RecModel, "ppocr-keys": &cfg.Keys, "ppocr-cls": &cfg.ClsModel} {
		if *dst, err = store.Path(name); err != nil {
			return nil, err
		}
	}
	return ocr.New(cfg)
}

func writeJSONFile(path string, v any) error {
	var b strings.Builder
	if err := writeResult(&b, FormatJSON, v); err != nil {
		return err
	}
	return faceeval.WriteFile(path, []byte(b.String()))
}

// checkNames lists the checks seen, in a stable order: the calibrated
// ones first as the forensics report orders them, then any other.
func checkNames(samples []docSample) []string {
	seen := map[string]bool{}
	for _, s := range samples {
		for n := range s.Checks {
			seen[n] = true
		}
	}
	order := []string{forensics.CheckELA, forensics.CheckDoubleJPEG, forensics.CheckBlockGrid, forensics.CheckMetadata,
		forensics.CheckCopyMove, forensics.CheckScreen, forensics.CheckPrint, forensics.CheckPhotocopy}
	var out []string
	for _, n := range order {
		if seen[n] {
			out = append(out, n)
			delete(seen, n)
		}
	}
	rest := make([]string, 0, len(seen))
	for n := range seen {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// overall is a sample's tamper score: the lowest normalised score of its
// applicable checks (below 0.5: some check fires), and whether a check that
// may reject fired.
func overall(s docSample, cal forensics.Calibration) (score float64, rejected bool) {
	score = 1
	for n, c := range s.Checks {
		if !c.Applicable {
			continue
		}
		cc := cal.For(n)
		score = math.Min(score, cc.Normalized(c.Score))
		if c.Score < cc.Cut && cc.Rejects {
			rejected = true
		}
	}
	return score, rejected
}

// fitCalibration measures each check on the calibration half's genuine
// samples (unchanged and re-saved): its false-positive rate at the
// detector's threshold decides whether it may reject; then, while more
// than 2% of those samples are flagged by any check, the check flagging
// the most of them is cut to its lowest genuine score (it flags none).
func fitCalibration(samples []docSample) forensics.Calibration {
	var genuine []docSample
	for _, s := range samples {
		if s.Calibration && s.Category.Group.Genuine() && s.Error == "" {
			genuine = append(genuine, s)
		}
	}
	cal := forensics.Calibration{}
	names := checkNames(samples)
	for _, n := range names {
		fp := 0
		for _, s := range genuine {
			if c := s.Checks[n]; c.Applicable && c.Score < 0.5 {
				fp++
			}
		}
		fpr := 0.0
		if len(genuine) > 0 {
			fpr = float64(fp) / float64(len(genuine))
		}
		cal[n] = forensics.CheckCalibration{Cut: 0.5, GenuineFPR: round4(fpr), N: len(genuine), Rejects: forensics.RejectAllowed(n, fpr)}
	}
	budget := int(math.Floor(0.02 * float64(len(genuine))))
	for {
		flagged := 0
		by := map[string]int{}
		for _, s := range genuine {
			any := false
			for _, n := range names {
				if c := s.Checks[n]; c.Applicable && c.Score < cal[n].Cut {
					by[n]++
					any = true
				}
			}
			if any {
				flagged++
			}
		}
		if flagged <= budget || len(by) == 0 {
			return cal
		}
		worst := ""
		for _, n := range names {
			if by[n] > by[worst] {
				worst = n
			}
		}
		low := 1.0
		for _, s := range genuine {
			if c := s.Checks[worst]; c.Applicable {
				low = math.Min(low, c.Score)
			}
		}
		cc := cal[worst]
		cc.Cut = math.Floor(low*1e4) / 1e4
		cal[worst] = cc
	}
}

func rate(k, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%d (%.1f%%)", k, 100*float64(k)/float64(n))
}

// docTable counts, per category and per group, the samples each check
// flagged, any check flagged and a rejecting check flagged.
func docTable(samples []docSample, cal forensics.Calibration) []docRow {
	names := checkNames(samples)
	type counts struct {
		n, flagged, rejected int
		checks               map[string]int
	}
	byCat := map[string]*counts{}
	byGroup := map[forgery.Group]*counts{}
	get := func(m map[string]*counts, k string) *counts {
		if m[k] == nil {
			m[k] = &counts{checks: map[string]int{}}
		}
		return m[k]
	}
	groupMap := map[string]*counts{}
	for _, s := range samples {
		if s.Error != "" {
			continue
		}
		score, rej := overall(s, cal)
		for _, c := range []*counts{get(byCat, s.Category.Name), get(groupMap, string(s.Category.Group))} {
			c.n++
			if score < 0.5 {
				c.flagged++
			}
			if rej {
				c.rejected++
			}
			for n, ch := range s.Checks {
				if ch.Applicable && ch.Score < cal.For(n).Cut {
					c.checks[n]++
				}
			}
		}
	}
	for g, c := range groupMap {
		byGroup[forgery.Group(g)] = c
	}
	row := func(g forgery.Group, cat string, c *counts) docRow {
		metric := "detected"
		if g.Genuine() {
			metric = "false positives"
		}
		r := docRow{Group: string(g), Category: cat, Metric: metric, N: c.n, Flagged: rate(c.flagged, c.n), Rejected: rate(c.rejected, c.n), Checks: map[string]string{}}
		for _, n := range names {
			r.Checks[n] = rate(c.checks[n], c.n)
		}
		return r
	}
	var rows []docRow
	for _, g := range forgery.Groups() {
		for _, cat := range forgery.Categories() {
			if c := byCat[cat.Name]; cat.Group == g && c != nil {
				rows = append(rows, row(g, cat.Name, c))
			}
		}
		if c := byGroup[g]; c != nil {
			rows = append(rows, row(g, "all "+string(g), c))
		}
	}
	return rows
}

// docCheckRow is one check measured on the reported samples at its
// operating point.
type docCheckRow struct {
	Check string  `json:"check"`
	Cut   float64 `json:"cut"`
	// Rejects: the check may reject on its own (else it sends to review).
	Rejects bool `json:"rejects"`
	// FitFPR is the false-positive rate the fit measured on the
	// calibration half at the detector's threshold.
	FitFPR float64 `json:"fit_genuine_fpr"`
	// GenuineFPR: genuine samples (unchanged and re-saved) it fired on.
	GenuineFPR string `json:"genuine_fpr"`
	// GenuineApplicable: genuine samples it could judge at all (the rest
	// lack what it reads: a JPEG history, a ghost image, an MRZ): a rate
	// of 0 on few of them is weak evidence.
	GenuineApplicable string `json:"genuine_applicable"`
	// Recall: per attack group, the samples it fired on.
	Recall map[string]string `json:"recall"`
	// Precision: of the samples it fired on, the share that are attacks
	// (on this benchmark's mix of genuine and attack samples).
	Precision string `json:"precision"`
}

// checkTable measures each check alone on samples at the operating points
// of cal.
func checkTable(samples []docSample, cal forensics.Calibration) []docCheckRow {
	var rows []docCheckRow
	for _, n := range checkNames(samples) {
		cc := cal.For(n)
		type tally struct{ k, n int }
		var genuine tally
		applicable := 0
		attacks := map[forgery.Group]*tally{}
		firedAttack := 0
		for _, s := range samples {
			if s.Error != "" {
				continue
			}
			c := s.Checks[n]
			fired := c.Applicable && c.Score < cc.Cut
			g := s.Category.Group
			if g.Genuine() {
				genuine.n++
				if c.Applicable {
					applicable++
				}
				if fired {
					genuine.k++
				}
				continue
			}
			if attacks[g] == nil {
				attacks[g] = &tally{}
			}
			attacks[g].n++
			if fired {
				attacks[g].k++
				firedAttack++
			}
		}
		r := docCheckRow{Check: n, Cut: cc.Cut, Rejects: cc.Rejects, FitFPR: cc.GenuineFPR, GenuineFPR: rate(genuine.k, genuine.n),
			GenuineApplicable: rate(applicable, genuine.n), Recall: map[string]string{}, Precision: rate(firedAttack, firedAttack+genuine.k)}
		for g, t := range attacks {
			r.Recall[string(g)] = rate(t.k, t.n)
		}
		rows = append(rows, r)
	}
	return rows
}

// docTargets says which of issue 16's targets the samples meet.
func docTargets(samples []docSample, cal forensics.Calibration) []string {
	type tally struct{ k, n int }
	var genuine, portrait, field tally
	fullApproved := 0
	fullN := 0
	for _, s := range samples {
		if s.Error != "" {
			continue
		}
		score, _ := overall(s, cal)
		hit := 0
		if score < 0.5 {
			hit = 1
		}
		switch s.Category.Group {
		case forgery.GroupGenuine, forgery.GroupResaved:
			genuine.k += hit
			genuine.n++
		case forgery.GroupPortrait:
			portrait.k += hit
			portrait.n++
		case forgery.GroupField:
			field.k += hit
			field.n++
		case forgery.GroupFull:
			fullN++
			fullApproved += 1 - hit
		}
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	share := func(t tally) float64 {
		if t.n == 0 {
			return math.NaN()
		}
		return float64(t.k) / float64(t.n)
	}
	return []string{
		fmt.Sprintf("genuine flagged at most 2%%: %s (%s)", met(share(genuine) <= 0.02), rate(genuine.k, genuine.n)),
		fmt.Sprintf("portrait swaps flagged at least 80%%: %s (%s)", met(share(portrait) >= 0.8), rate(portrait.k, portrait.n)),
		fmt.Sprintf("field edits flagged at least 60%%: %s (%s)", met(share(field) >= 0.6), rate(field.k, field.n)),
		fmt.Sprintf("full forgery never unflagged by forensics (so never auto-approved): %s (%d of %d unflagged)", met(fullApproved == 0 && fullN > 0), fullApproved, fullN),
	}
}

// docDET draws the overall tamper score's DET curves: genuine samples
// flagged against each attack group missed.
func docDET(samples []docSample, cal forensics.Calibration, split string) ([]byte, error) {
	var genuine []float64
	attacks := map[forgery.Group][]float64{}
	// Four curves, the plot's palette: the reproductions share one.
	const reproduction = forgery.Group("print or screen (simulated)")
	for _, s := range samples {
		if s.Error != "" {
			continue
		}
		score, _ := overall(s, cal)
		switch g := s.Category.Group; {
		case g.Genuine():
			genuine = append(genuine, score)
		case g == forgery.GroupPrint || g == forgery.GroupScreen:
			attacks[reproduction] = append(attacks[reproduction], score)
		default:
			attacks[g] = append(attacks[g], score)
		}
	}
	thr := 0.5
	var curves []faceeval.Curve
	for _, g := range []forgery.Group{forgery.GroupPortrait, forgery.GroupField, forgery.GroupFull, reproduction} {
		if a := attacks[g]; len(a) > 0 && len(genuine) > 0 {
			c := faceeval.Curve{Label: fmt.Sprintf("%s (%d) vs genuine (%d)", g, len(a), len(genuine)), Genuine: genuine, Impostor: a}
			if !slices.ContainsFunc(curves, func(c faceeval.Curve) bool { return c.Threshold != nil }) {
				c.Threshold = &thr
			}
			curves = append(curves, c)
		}
	}
	if len(curves) == 0 {
		return nil, Errorf(ExitInput, "bad_document_set", "no genuine or no attack sample analysed")
	}
	return faceeval.DETPNGLabelled("Document forensics, "+split+" half: overall tamper score",
		"attacks missed (not flagged)", "genuine documents flagged", curves)
}
