package ocr

import (
	"image"
	"math"
	"testing"
)

func TestMinAreaRect(t *testing.T) {
	// A 40x10 rectangle turned by 30 degrees about (100, 50).
	a := math.Pi / 6
	var pts []image.Point
	for _, c := range [][2]float64{{-20, -5}, {20, -5}, {20, 5}, {-20, 5}} {
		x := 100 + c[0]*math.Cos(a) - c[1]*math.Sin(a)
		y := 50 + c[0]*math.Sin(a) + c[1]*math.Cos(a)
		pts = append(pts, image.Pt(int(math.Round(x)), int(math.Round(y))))
	}
	r := minAreaRect(pts)
	if math.Abs(max(r.w, r.h)-40) > 1.5 || math.Abs(min(r.w, r.h)-10) > 1.5 {
		t.Errorf("sides %.1f x %.1f, want 40 x 10", r.w, r.h)
	}
	q := r.corners()
	if !(q[0].X < q[1].X && q[0].Y < q[3].Y) || math.Abs(q.Width()-40) > 1.5 {
		t.Errorf("corners %v not in reading order", q)
	}
	if c := q.Center(); math.Abs(c.X-100) > 1 || math.Abs(c.Y-50) > 1 {
		t.Errorf("centre %v, want (100, 50)", c)
	}
	for _, p := range []image.Point{{}, {3, 3}} {
		if r := minAreaRect([]image.Point{p}); r.w != 0 || r.h != 0 {
			t.Errorf("single point gave %+v", r)
		}
	}
}

func TestSortReadingOrder(t *testing.T) {
	box := func(x, y float64) Quad { return Quad{{x, y}, {x + 50, y}, {x + 50, y + 20}, {x, y + 20}} }
	// Two rows; the right box of the first row sits 3 px higher.
	qs := []Quad{box(0, 100), box(200, 7), box(0, 10)}
	sortReadingOrder(qs)
	want := []Quad{box(0, 10), box(200, 7), box(0, 100)}
	for i := range want {
		if qs[i] != want[i] {
			t.Fatalf("order %v, want %v", qs, want)
		}
	}
}

// probs builds a frames x classes matrix where frame t puts p[t] on class
// c[t] and the rest on the blank.
func probs(classes int, frames [][2]float64) []float32 {
	out := make([]float32, len(frames)*classes)
	for t, f := range frames {
		c, p := int(f[0]), float32(f[1])
		out[t*classes] = 1 - p
		if c != 0 {
			out[t*classes+c] = p
		}
	}
	return out
}

func TestDecode(t *testing.T) {
	// Classes: 0 blank, 1 'A', 2 '<', 3 '«' (read as '<'), 4 'B'.
	e := &recognizer{classes: []rune{'A', '<', '«', 'B'}}
	e.classOf = map[rune][]int{'A': {1}, '<': {2}, '«': {3}, 'B': {4}}
	// A A _ A < « _ B(weak) _ <
	frames := [][2]float64{{1, .9}, {1, .8}, {0, 0}, {1, .7}, {2, .9}, {3, .95}, {0, 0}, {4, .3}, {0, 0}, {2, .6}}
	p := probs(5, frames)
	tests := []struct {
		name string
		opt  DecodeOptions
		want string
	}{
		{"greedy", DecodeOptions{}, "AA<«<"},
		{"alias merges runs", DecodeOptions{Alias: map[rune]rune{'«': '<'}}, "AA<<"},
		{"allow", DecodeOptions{Allow: "A<"}, "AA<<"},
		{"length repair adds the weak B", DecodeOptions{Allow: "AB<", Alias: map[rune]rune{'«': '<'}, Lengths: []int{5}}, "AA<B<"},
		{"repair bounded", DecodeOptions{Lengths: []int{9}, MaxAdded: 2}, "AA<«<"},
		{"longer than every length kept", DecodeOptions{Lengths: []int{2}}, "AA<«<"},
	}
	for _, tc := range tests {
		d, err := e.decoder(tc.opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		l := newLine(d.decodeLine(p, len(frames), 5, tc.opt))
		if l.Text != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, l.Text, tc.want)
		}
	}
	d, _ := e.decoder(DecodeOptions{})
	l := newLine(d.decode(p, len(frames), 5))
	// The first A's run covers frames of 0.9 and 0.8: its confidence is
	// the higher.
	if l.Chars[0].Conf != 0.9 || l.Chars[1].Conf != 0.7 {
		t.Errorf("confidences %+v", l.Chars)
	}
	if want := float32(0.9+0.7+0.9+0.95+0.6) / 5; math.Abs(float64(l.Conf-want)) > 1e-6 {
		t.Errorf("line confidence %v, want %v", l.Conf, want)
	}
	if _, _, ok := d.fixedLength(p, len(frames), 5, 11); ok {
		t.Error("11 characters fitted in 10 frames")
	}
	if _, err := e.decoder(DecodeOptions{Allow: "AZ"}); err == nil {
		t.Error("allowing a character without a class succeeded")
	}
}

func TestCapitalize(t *testing.T) {
	// Classes: 0 blank, 1 'S', 2 'l', 3 'I', 4 'T', 5 'a', 6 'A', 7 'N', 8 'm', 9 ' '.
	e := &recognizer{classes: []rune{'S', 'l', 'I', 'T', 'a', 'A', 'N', 'm', ' '}}
	// frame puts p on class c and the second choice q on class c2.
	frame := func(c, c2 int, p, q float32) []float32 {
		f := make([]float32, 10)
		f[0] = 1 - p - q
		f[c], f[c2] = p, q
		return f
	}
	var p []float32
	add := func(fs ...[]float32) {
		for _, f := range fs {
			p = append(p, f...)
			p = append(p, frame(0, 0, 0, 0)...) // a blank between characters
		}
	}
	// "SlTl Nama": the capitals' word read with two small l's whose second
	// choice is I; "Nama" stays as read.
	add(frame(1, 0, .9, 0), frame(2, 3, .5, .4), frame(4, 0, .9, 0), frame(2, 3, .6, .3),
		frame(9, 0, .9, 0), frame(7, 0, .9, 0), frame(5, 6, .8, .1), frame(8, 0, .9, 0), frame(5, 6, .8, .1))
	d, err := e.decoder(DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	frames := len(p) / 10
	if got := newLine(d.decodeLine(p, frames, 10, DecodeOptions{})).Text; got != "SITI Nama" {
		t.Errorf("read %q, want %q", got, "SITI Nama")
	}
	if got := newLine(d.decode(p, frames, 10)).Text; got != "SlTl Nama" {
		t.Errorf("greedy decoding alone read %q", got)
	}
}

func TestQuadContains(t *testing.T) {
	q := Quad{{0, 0}, {10, 2}, {9, 7}, {-1, 5}}
	rev := Quad{q[3], q[2], q[1], q[0]}
	for _, c := range []struct {
		p    Point
		want bool
	}{{Point{5, 3}, true}, {Point{0, 0}, true}, {Point{11, 3}, false}, {Point{5, -1}, false}} {
		if q.Contains(c.p) != c.want || rev.Contains(c.p) != c.want {
			t.Errorf("Contains(%v) = %v, want %v", c.p, q.Contains(c.p), c.want)
		}
	}
}
