// Command icon draws the application icon, build/appicon.png: an ID card
// with a portrait and text lines on the product's blue.
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
)

func main() {
	out := "build/appicon.png"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := write(out); err != nil {
		fmt.Fprintln(os.Stderr, "icon:", err)
		os.Exit(1)
	}
}

func write(path string) error {
	const size = 512
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	fill := func(r image.Rectangle, c color.RGBA) { draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src) }
	fill(img.Bounds(), color.RGBA{31, 58, 104, 255})
	fill(image.Rect(56, 136, 456, 388), color.RGBA{238, 241, 246, 255}) // the card
	fill(image.Rect(56, 136, 456, 176), color.RGBA{46, 125, 50, 255})   // its band
	fill(image.Rect(86, 206, 196, 356), color.RGBA{160, 170, 190, 255}) // the portrait
	for i, w := range []int{220, 180, 200, 140} {
		y := 214 + i*38
		fill(image.Rect(222, y, 222+w, y+14), color.RGBA{90, 100, 120, 255}) // text lines
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
