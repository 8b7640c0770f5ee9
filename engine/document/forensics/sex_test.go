package forensics

import (
	"image"
	"testing"
)

func TestPortraitSex(t *testing.T) {
	face := image.Rect(10, 20, 60, 80)
	for _, tc := range []struct {
		name       string
		sex        string
		pMale, age float64
		applicable bool
		fires      bool
	}{
		{"woman judged a woman", "F", 0.05, 35, true, false},
		{"woman judged a man", "F", 0.97, 35, true, true},
		{"man judged a woman", "M", 0.02, 50, true, true},
		{"man, the model unsure", "M", 0.3, 50, true, false},
		{"at the threshold", "F", 0.9, 30, true, false},
		{"sex X", "X", 0.99, 30, false, false},
		{"sex unspecified", "", 0.99, 30, false, false},
		{"a child", "F", 0.99, 8, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := PortraitSex(tc.sex, tc.pMale, tc.age, face, Options{})
			if c.Name != CheckPortraitSex || c.Applicable != tc.applicable || (c.Score < 0.5) != tc.fires {
				t.Errorf("got applicable %v score %.3f (%v), want applicable %v fires %v", c.Applicable, c.Score, c.Evidence, tc.applicable, tc.fires)
			}
		})
	}
}
