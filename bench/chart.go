package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// One colour per target, in the order of targets.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // s3cache hit
	{0x2c, 0xa0, 0x2c, 0xff}, // nginx hit
	{0xff, 0x7f, 0x0e, 0xff}, // s3cache miss
	{0x7f, 0x7f, 0x7f, 0xff}, // backend GET
	{0x94, 0x67, 0xbd, 0xff}, // s3cache upload
	{0xbc, 0xbd, 0x22, 0xff}, // backend upload
}

// writePNG draws requests/s as bars: one panel per object size, each with
// its own scale, one bar per target, the value above it.
func (r *report) writePNG(path string) error {
	const (
		panelW, panelH = 300, 320
		top, bottom    = 70, 40
		barGap         = 8
	)
	w := panelW * len(r.Sizes)
	img := image.NewRGBA(image.Rect(0, 0, w, panelH+top+bottom))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text := func(x, y int, s string, c color.Color) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	textWidth := func(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

	m := r.Machine
	text(10, 18, fmt.Sprintf("requests/s, median of %d rounds; %s, %d cores, %s", r.Rounds, m.CPU, m.Cores, m.Date), color.Black)
	x, y := 10, 30
	for i, t := range targets {
		wid := 16 + textWidth(t.Name) + 18
		if x+wid > w {
			x, y = 10, y+18
		}
		draw.Draw(img, image.Rect(x, y, x+12, y+12), image.NewUniform(palette[i]), image.Point{}, draw.Src)
		text(x+16, y+11, t.Name, color.Black)
		x += wid
	}

	for p, size := range r.Sizes {
		x0 := p * panelW
		var peak float64
		for _, t := range targets {
			peak = max(peak, r.get(t.Name, size).RPS)
		}
		if peak == 0 {
			peak = 1
		}
		barW := (panelW - 20 - barGap*len(targets)) / len(targets)
		base := top + panelH
		for i, t := range targets {
			v := r.get(t.Name, size).RPS
			h := int(v / peak * float64(panelH-30))
			bx := x0 + 10 + i*(barW+barGap)
			draw.Draw(img, image.Rect(bx, base-h, bx+barW, base), image.NewUniform(palette[i]), image.Point{}, draw.Src)
			label := compact(v)
			text(bx+(barW-textWidth(label))/2, base-h-4, label, color.Black)
		}
		draw.Draw(img, image.Rect(x0+5, base, x0+panelW-5, base+1), image.Black, image.Point{}, draw.Src)
		title := formatSize(size) + " objects"
		text(x0+(panelW-textWidth(title))/2, base+22, title, color.Black)
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

// compact renders a rate briefly: 91k, 4.2k, 310.
func compact(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}
