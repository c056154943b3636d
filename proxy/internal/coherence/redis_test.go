package coherence

import (
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in    string
		addrs []string
		tls   bool
		db    int
		bad   bool
	}{
		{in: "redis://127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}},
		{in: "redis://:pw@10.0.0.1:6380/2", addrs: []string{"10.0.0.1:6380"}, db: 2},
		{in: "rediss://r.example:6379", addrs: []string{"r.example:6379"}, tls: true},
		{in: "redis://a:7000, b:7001,redis://c:7002", addrs: []string{"a:7000", "b:7001", "c:7002"}},
		{in: "", bad: true},
		{in: "http://x", bad: true},
		{in: "redis://u:secret-pw@h:notaport", bad: true},
	} {
		opt, err := parseURL(tc.in)
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%q: the error shows the password: %v", tc.in, err)
		}
		if (err != nil) != tc.bad {
			t.Errorf("%q: error %v, want bad=%v", tc.in, err, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		if !slices.Equal(opt.InitAddress, tc.addrs) || (opt.TLSConfig != nil) != tc.tls || opt.SelectDB != tc.db {
			t.Errorf("%q: addresses %v tls %v db %d, want %v %v %d", tc.in, opt.InitAddress, opt.TLSConfig != nil, opt.SelectDB, tc.addrs, tc.tls, tc.db)
		}
	}
}
