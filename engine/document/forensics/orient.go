package forensics

import (
	"image"

	"github.com/openkyc/kyc/engine/imageio"
)

// A JPEG whose EXIF orientation says it was taken turned (a phone held
// sideways or upside down saves its sensor's pixels and the tag) is
// decoded turned: imageio.Decode, as OpenCV does, applies the tag. The
// picture's pixels are the file's, moved without resampling, so the
// file's 8x8 grid is still there, but it starts where the file's last
// column or row lands: at the file's width or height modulo 8 along an
// axis the turn reversed. The checks of the file's own grid therefore run
// on the file as stored, their regions mapped to the picture
// (jpegChecks), and the grid of the picture is told to those that read
// the picture (Options.GridOrigin, GridOrigin).

// GridOrigin is where the 8x8 grid of raw, a JPEG, starts in its picture
// as decoded (turned by its EXIF orientation), each coordinate modulo 8:
// the zero point unless the orientation turned or mirrored the picture
// and the file's side is not a multiple of 8. Other files have none and
// get the zero point.
func GridOrigin(raw []byte) image.Point {
	jpg, err := parseJPEG(raw)
	if err != nil {
		return image.Point{}
	}
	block := orientRect(imageio.Orientation(raw), image.Rect(0, 0, 8, 8), jpg.width, jpg.height)
	return image.Pt(block.Min.X&7, block.Min.Y&7)
}

// orientedSize is the size of the picture of a w x h file turned by the
// EXIF orientation o.
func orientedSize(o, w, h int) image.Point {
	if o >= 5 && o <= 8 {
		return image.Pt(h, w)
	}
	return image.Pt(w, h)
}

// orientPoint is where pixel (x, y) of a w x h file lands once turned by
// the EXIF orientation o (as the console's evidence drawing turns it).
func orientPoint(o, x, y, w, h int) image.Point {
	switch o {
	case 2:
		return image.Pt(w-1-x, y)
	case 3:
		return image.Pt(w-1-x, h-1-y)
	case 4:
		return image.Pt(x, h-1-y)
	case 5:
		return image.Pt(y, x)
	case 6:
		return image.Pt(h-1-y, x)
	case 7:
		return image.Pt(h-1-y, w-1-x)
	case 8:
		return image.Pt(y, w-1-x)
	}
	return image.Pt(x, y)
}

// inverseOrientation is the orientation that turns a picture of
// orientation o back to its file: a quarter turn's opposite; the others
// undo themselves.
func inverseOrientation(o int) int {
	switch o {
	case 6:
		return 8
	case 8:
		return 6
	}
	return o
}

// orientRect maps r, pixels of a w x h file, to the picture turned by the
// EXIF orientation o.
func orientRect(o int, r image.Rectangle, w, h int) image.Rectangle {
	if r.Empty() {
		return image.Rectangle{}
	}
	a, b := orientPoint(o, r.Min.X, r.Min.Y, w, h), orientPoint(o, r.Max.X-1, r.Max.Y-1, w, h)
	return image.Rect(min(a.X, b.X), min(a.Y, b.Y), max(a.X, b.X)+1, max(a.Y, b.Y)+1)
}

// orientEvidence maps the checks' regions from a w x h file to its
// picture turned by the EXIF orientation o, and the block grid's phase
// (relative to the file's grid) with them.
func orientEvidence(cs []Check, o, w, h int) []Check {
	if o == 1 {
		return cs
	}
	for _, c := range cs {
		for k, v := range c.Evidence {
			switch v := v.(type) {
			case Region:
				r := orientRect(o, image.Rect(v.X, v.Y, v.X+v.W, v.Y+v.H), w, h)
				c.Evidence[k] = regionOf(r)
			case [2]int:
				if k == "region_grid_phase" {
					c.Evidence[k] = orientPhase(o, v)
				}
			}
		}
	}
	return cs
}

// orientPhase maps a grid phase (along the file's x and y, from its grid)
// to the picture turned by the EXIF orientation o: a turn by a quarter
// swaps the axes, and along an axis the turn reversed a step p pixels past
// a grid line is 8-p before the next one.
func orientPhase(o int, p [2]int) [2]int {
	x := orientPoint(o, 1, 0, 2, 2).Sub(orientPoint(o, 0, 0, 2, 2)) // the file's +x in the picture
	y := orientPoint(o, 0, 1, 2, 2).Sub(orientPoint(o, 0, 0, 2, 2)) // the file's +y
	var out [2]int
	for i, step := range [2]image.Point{x, y} {
		ph := p[i]
		if step.X+step.Y < 0 {
			ph = (8 - ph) & 7
		}
		if step.X != 0 {
			out[0] = ph
		} else {
			out[1] = ph
		}
	}
	return out
}
