// Package zcodectest generates deterministic bodies for the tests and
// benchmarks of compression: text-like formats as they are found in
// buckets, and random bytes, which do not compress.
package zcodectest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// JSON returns a deterministic JSON array of about size bytes, like an
// API dump or a manifest: repeated field names, varied values.
func JSON(size int) []byte {
	r := rand.New(rand.NewPCG(7, uint64(size)))
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%06d","price":%d.%02d,"tags":["%s","%s"],"active":%t,"owner":{"user":"u%04d","region":"eu-west-%d"}}`,
			i, r.IntN(1_000_000), r.IntN(500), r.IntN(100), words[r.IntN(len(words))], words[r.IntN(len(words))],
			r.IntN(2) == 0, r.IntN(5000), 1+r.IntN(3))
	}
	b.WriteString("]")
	return b.Bytes()
}

// CSV returns a deterministic CSV table of about size bytes.
func CSV(size int) []byte {
	r := rand.New(rand.NewPCG(8, uint64(size)))
	var b bytes.Buffer
	b.WriteString("date,station,temperature,humidity,wind,condition\n")
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%s,ST%03d,%d.%d,%d,%d.%d,%s\n", day.Add(time.Duration(i)*time.Hour).Format(time.RFC3339),
			r.IntN(200), r.IntN(40)-5, r.IntN(10), 20+r.IntN(80), r.IntN(30), r.IntN(10), words[r.IntN(len(words))])
	}
	return b.Bytes()
}

// Log returns deterministic access-log lines of about size bytes.
func Log(size int) []byte {
	r := rand.New(rand.NewPCG(9, uint64(size)))
	paths := []string{"/", "/index.html", "/api/v1/items", "/static/app.js", "/static/site.css", "/login", "/search?q="}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "aws-sdk-go-v2/1.30.0", "Go-http-client/1.1"}
	var b bytes.Buffer
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "10.%d.%d.%d - - [%s] \"GET %s%s HTTP/1.1\" %d %d \"-\" \"%s\"\n",
			r.IntN(256), r.IntN(256), r.IntN(256), t0.Add(time.Duration(i)*time.Second).Format("02/Jan/2006:15:04:05 -0700"),
			paths[r.IntN(len(paths))], words[r.IntN(len(words))], []int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(100_000), agents[r.IntN(len(agents))])
	}
	return b.Bytes()
}

// Random returns size deterministic random bytes: incompressible.
func Random(size int) []byte {
	r := rand.New(rand.NewPCG(10, uint64(size)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var words = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")

// Bodies are the bodies of the compression benchmarks, by name.
var Bodies = []struct {
	Name string
	Gen  func(size int) []byte
}{
	{"json", JSON},
	{"csv", CSV},
	{"log", Log},
	{"random", Random},
}

// Sizes are the body sizes of the compression benchmarks.
var Sizes = []struct {
	Name string
	Size int
}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}
