package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// One colour per target, in the order of targets, then of rangeTargets.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // s3cache hit
	{0xae, 0xc7, 0xe8, 0xff}, // s3cache hit header-signed
	{0x2c, 0xa0, 0x2c, 0xff}, // nginx hit
	{0xff, 0x7f, 0x0e, 0xff}, // s3cache miss
	{0x7f, 0x7f, 0x7f, 0xff}, // backend GET
	{0x94, 0x67, 0xbd, 0xff}, // s3cache upload
	{0xbc, 0xbd, 0x22, 0xff}, // backend upload
	{0x17, 0xbe, 0xcf, 0xff}, // s3cache range hit
	{0x8c, 0x56, 0x4b, 0xff}, // nginx slice hit
}

// colour returns the palette entry of the target named name.
func colour(name string) color.RGBA {
	for i, t := range allTargets() {
		if t.Name == name {
			return palette[i%len(palette)]
		}
	}
	return color.RGBA{0, 0, 0, 0xff}
}

// allTargets lists every target, as -only may name them.
func allTargets() []target {
	return append(append([]target{}, allWhole...), allRanged...)
}

// allWhole and allRanged are the targets before -only selects among them.
var allWhole, allRanged = targets, rangeTargets

// panel is one group of bars of the chart, with its own scale.
type panel struct {
	title string
	names []string
	rps   []float64
}

// panels are one per object size, then one per range case.
func (r *report) panels() []panel {
	var out []panel
	for _, size := range r.Sizes {
		p := panel{title: formatSize(size) + " objects"}
		for _, t := range targets {
			p.names, p.rps = append(p.names, t.Name), append(p.rps, r.get(t.Name, size).RPS)
		}
		out = append(out, p)
	}
	for _, c := range r.Ranges {
		p := panel{title: c + " ranges"}
		for _, t := range rangeTargets {
			p.names, p.rps = append(p.names, t.Name), append(p.rps, r.getRange(t.Name, c).RPS)
		}
		out = append(out, p)
	}
	return out
}

// writePNG draws requests/s as bars: one panel per object size and range
// case, each with its own scale, one bar per target, the value above it.
func (r *report) writePNG(path string) error {
	const (
		panelW, panelH = 300, 320
		top, bottom    = 70, 40
		barGap         = 8
	)
	panels := r.panels()
	w := panelW * max(len(panels), 2)
	img := image.NewRGBA(image.Rect(0, 0, w, panelH+top+bottom))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text := func(x, y int, s string, c color.Color) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	textWidth := func(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

	m := r.Machine
	where := "servers pinned to CPU " + r.Regime.ServerCPUs + " (" + strconv.Itoa(r.Regime.Procs) + " core(s) each), wrk and the backend apart"
	if r.Regime.ServerCPUs == "" {
		where = "every process free on every core"
	}
	text(10, 18, fmt.Sprintf("requests/s, median of %d rounds; %s, %d cores, %s; %s", r.Rounds, m.CPU, m.Cores, m.Date, where), color.Black)
	x, y := 10, 30
	var shown []string
	for _, p := range panels {
		for _, name := range p.names {
			if !slices.Contains(shown, name) {
				shown = append(shown, name)
			}
		}
	}
	for _, name := range shown {
		wid := 16 + textWidth(name) + 18
		if x+wid > w {
			x, y = 10, y+18
		}
		draw.Draw(img, image.Rect(x, y, x+12, y+12), image.NewUniform(colour(name)), image.Point{}, draw.Src)
		text(x+16, y+11, name, color.Black)
		x += wid
	}

	for pi, p := range panels {
		x0 := pi * panelW
		peak := 1.0
		for _, v := range p.rps {
			peak = max(peak, v)
		}
		barW := (panelW - 20 - barGap*len(p.names)) / len(p.names)
		base := top + panelH
		for i, v := range p.rps {
			h := int(v / peak * float64(panelH-30))
			bx := x0 + 10 + i*(barW+barGap)
			draw.Draw(img, image.Rect(bx, base-h, bx+barW, base), image.NewUniform(colour(p.names[i])), image.Point{}, draw.Src)
			label := compact(v)
			text(bx+(barW-textWidth(label))/2, base-h-4, label, color.Black)
		}
		draw.Draw(img, image.Rect(x0+5, base, x0+panelW-5, base+1), image.Black, image.Point{}, draw.Src)
		text(x0+(panelW-textWidth(p.title))/2, base+22, p.title, color.Black)
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
