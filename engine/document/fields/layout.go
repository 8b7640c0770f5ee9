package fields

import (
	"image"
	"math"
	"sort"
	"strings"
	"time"
)

// rightColumn is where, as a share of a KTP's width, the column of the
// photo begins: the issuing city and date printed under the photo share
// rows with the fields on the left but are not their values.
const rightColumn = 0.68

// Bounds on the work one page may cause: a document's data page has well
// under a hundred text lines of under a hundred characters, and matching
// a label against the lines of its row is quadratic in the line count.
const (
	maxLines    = 300
	maxLineText = 256
)

// pline is a Line prepared for matching.
type pline struct {
	Line
	f    folded
	c    compact
	conf float64
}

// page is the lines of one document.
type page struct {
	lines []pline
	width int
}

func newPage(lines []Line, size image.Point) *page {
	p := &page{lines: make([]pline, 0, len(lines)), width: size.X}
	for i, l := range lines {
		if len(p.lines) == maxLines {
			break
		}
		if strings.TrimSpace(l.Text) == "" {
			continue
		}
		if len(l.Text) > maxLineText {
			l.Text = strings.ToValidUTF8(l.Text[:maxLineText], "")
		}
		if l.Box.Empty() {
			// Without geometry every line is a row of its own, in order.
			l.Box = image.Rect(0, i*40, 1000, i*40+30)
		}
		l.Box = l.Box.Canon()
		f := fold(l.Text, false)
		conf := float64(l.Conf)
		if math.IsNaN(conf) {
			conf = 0
		}
		p.lines = append(p.lines, pline{Line: l, f: f, c: newCompact(f.text), conf: min(max(conf, 0), 1)})
		p.width = max(p.width, l.Box.Max.X)
	}
	return p
}

// spec is a field and the labels printed before or above its value.
type spec struct {
	field  string
	labels []pattern
	// parse reads the value; nil for labels that only delimit others.
	parse func(raw string, now time.Time) (string, bool)
}

// labelHit is a label found in a line, as byte offsets in its folded text.
type labelHit struct {
	spec       *spec
	start, end int
	quality    float64
}

// findLabels returns the labels of specs found in l, by position.
func findLabels(l *pline, specs []spec) []labelHit {
	var hits []labelHit
	for i := range specs {
		s := &specs[i]
		for j := range s.labels {
			pat := &s.labels[j]
			for _, h := range l.c.find(pat) {
				hits = append(hits, labelHit{
					spec:    s,
					start:   l.c.off[h.start],
					end:     l.c.off[h.end-1] + 1,
					quality: 1 - float64(h.dist)/float64(len(pat.letters)+1),
				})
			}
		}
	}
	// Overlapping labels: the better match wins, then the longer.
	sort.SliceStable(hits, func(a, b int) bool {
		if hits[a].quality != hits[b].quality {
			return hits[a].quality > hits[b].quality
		}
		return hits[a].end-hits[a].start > hits[b].end-hits[b].start
	})
	var kept []labelHit
	for _, h := range hits {
		ok := true
		for _, k := range kept {
			if h.start < k.end && k.start < h.end {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, h)
		}
	}
	sort.Slice(kept, func(a, b int) bool { return kept[a].start < kept[b].start })
	// A bilingual label ("Surname/Nom") is one label.
	var out []labelHit
	for _, h := range kept {
		if n := len(out); n > 0 && out[n-1].spec == h.spec &&
			strings.Trim(l.f.text[out[n-1].end:h.start], separators+"/()0123456789") == "" {
			out[n-1].end = h.end
			out[n-1].quality = max(out[n-1].quality, h.quality)
			continue
		}
		out = append(out, h)
	}
	return out
}

// candidate is a possible value of a field.
type candidate struct {
	raw  string
	conf float64
}

// fields extracts the fields of specs. A value follows its label on the
// same line, or is the text of the lines to its right on the same row, or
// (when below is set, as on a passport's data page) the line under it.
//
// agrees, when not nil, says whether a value read for a field agrees with
// what the MRZ's check digits validated: of the values a label offers
// (its line, its row, the line under it) and of the labels of one field,
// one that agrees is taken over the first or the more confident. A misread
// label then costs nothing where the page prints the MRZ's value, and a
// value that disagrees is still read where the page prints no other.
func (p *page) fields(specs []spec, ktp bool, now time.Time, agrees func(field, value string) bool) map[string]Field {
	if agrees == nil {
		agrees = func(string, string) bool { return false }
	}
	hits := make([][]labelHit, len(p.lines))
	for i := range p.lines {
		hits[i] = findLabels(&p.lines[i], specs)
	}
	out := map[string]Field{}
	agreed := map[string]bool{}
	for i := range p.lines {
		for k, h := range hits[i] {
			if h.spec.parse == nil {
				continue
			}
			field := h.spec.field
			var best Field
			found, ok := false, false
			for _, c := range p.candidates(hits, i, k, ktp) {
				v, parsed := h.spec.parse(c.raw, now)
				if !parsed {
					continue
				}
				f := Field{Value: v, Source: SourceVisual, Confidence: round(h.quality * c.conf)}
				if !found {
					best, found = f, true
				}
				if agrees(field, v) {
					best, ok = f, true
					break
				}
			}
			if !found || agreed[field] && !ok {
				continue
			}
			if old, seen := out[field]; !seen || (ok && !agreed[field]) || (ok == agreed[field] && best.Confidence > old.Confidence) {
				out[field] = best
				agreed[field] = ok
			}
		}
	}
	return out
}

// labelLine reports whether line i begins with a label.
func labelLine(hits [][]labelHit, l *pline, i int) bool {
	return len(hits[i]) > 0 && trimSeparators(l.f.text[:hits[i][0].start]) == ""
}

// upTo is the original text of line i from folded offset start up to its
// next label after start.
func upTo(hits [][]labelHit, l *pline, i, start int) string {
	end := len(l.f.text)
	for _, h := range hits[i] {
		if h.start >= start {
			end = h.start
			break
		}
	}
	return trimSeparators(l.f.original(start, end))
}

// candidates lists the possible values of label k of line i, best first.
func (p *page) candidates(hits [][]labelHit, i, k int, ktp bool) []candidate {
	l := &p.lines[i]
	h := hits[i][k]
	var out []candidate
	if s := upTo(hits, l, i, h.end); s != "" {
		out = append(out, candidate{s, l.conf})
	}
	if k < len(hits[i])-1 {
		return out // the lines around belong to the line's later labels
	}
	// The rest of the row, left to right, up to the next label.
	var row []int
	for j := range p.lines {
		o := &p.lines[j]
		if j == i || !sameRow(l.Box, o.Box) || o.Box.Min.X < l.Box.Max.X-l.Box.Dy() {
			continue
		}
		if ktp && float64(o.Box.Min.X) >= rightColumn*float64(p.width) {
			continue
		}
		row = append(row, j)
	}
	sort.Slice(row, func(a, b int) bool { return p.lines[row[a]].Box.Min.X < p.lines[row[b]].Box.Min.X })
	var parts []string
	conf, n := 0.0, 0
	for _, j := range row {
		if labelLine(hits, &p.lines[j], j) {
			break
		}
		if s := upTo(hits, &p.lines[j], j, 0); s != "" {
			parts = append(parts, s)
			conf += p.lines[j].conf
			n++
		}
		if len(hits[j]) > 0 {
			break
		}
	}
	if n > 0 {
		out = append(out, candidate{strings.Join(parts, " "), conf / float64(n)})
	}
	if !ktp {
		j := p.below(l, h)
		// A bilingual label printed on two lines ("Valid until" over
		// "Valide jusqu'au"): the value is under the second.
		if j >= 0 && labelLine(hits, &p.lines[j], j) && len(hits[j]) == 1 && hits[j][0].spec == h.spec {
			j = p.below(&p.lines[j], hits[j][0])
		}
		if j >= 0 && !labelLine(hits, &p.lines[j], j) {
			if s := upTo(hits, &p.lines[j], j, 0); s != "" {
				out = append(out, candidate{s, p.lines[j].conf})
			}
		}
	}
	return out
}

// sameRow reports whether a and b overlap vertically by half the height
// of the smaller.
func sameRow(a, b image.Rectangle) bool {
	overlap := min(a.Max.Y, b.Max.Y) - max(a.Min.Y, b.Min.Y)
	return overlap*2 >= min(a.Dy(), b.Dy()) && overlap > 0
}

// below returns the line under label h of line l, or -1: the nearest line
// starting within one and a half label heights below it that overlaps the
// label's columns (estimated from its characters' share of the line).
func (p *page) below(l *pline, h labelHit) int {
	n := max(len(l.f.text), 1)
	x0 := l.Box.Min.X + l.Box.Dx()*h.start/n
	x1 := l.Box.Min.X + l.Box.Dx()*h.end/n
	lh := l.Box.Dy()
	best, bestGap := -1, math.MaxInt
	for j := range p.lines {
		o := p.lines[j].Box
		gap := o.Min.Y - l.Box.Max.Y
		if o.Min.Y <= (l.Box.Min.Y+l.Box.Max.Y)/2 || gap > lh*3/2 ||
			o.Max.X < x0-lh || o.Min.X > x1+lh {
			continue
		}
		score := max(gap, 0) + abs(o.Min.X-x0)/4
		if score < bestGap {
			best, bestGap = j, score
		}
	}
	return best
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }
