package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// The parsers below turn a setting's text, as an environment variable,
// flag or config-file value gives it, into its field. Each returns an
// error that says what it wants; the caller names the setting.

// str stores the text as it is.
func str(p *string) func(string) error {
	return func(v string) error { *p = v; return nil }
}

// boolean parses true or false (and strconv.ParseBool's other spellings).
func boolean(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
		return nil
	}
}

// duration parses a positive time.Duration.
func duration(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("want a positive duration such as 30s, 5m or 1h")
		}
		*p = d
		return nil
	}
}

// durationOrZero parses a time.Duration that may be 0, meaning off.
func durationOrZero(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return errors.New("want a duration such as 30s, 5m or 1h, or 0 for off")
		}
		*p = d
		return nil
	}
}

// rate parses requests per second: a finite number, 0 or more.
func rate(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return errors.New("want requests per second: a number such as 50 or 0.5, or 0 for no limit")
		}
		*p = f
		return nil
	}
}

// price parses an amount of money: a finite number, 0 or more.
func price(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return errors.New("want a price: a number such as 0.09, or 0 for none")
		}
		*p = f
		return nil
	}
}

// count parses a positive whole number.
func count(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("want a positive whole number")
		}
		*p = n
		return nil
	}
}

// signedCount parses a whole number, where -1 means none and 0 is refused
// (it would mean the default).
func signedCount(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 || n < -1 {
			return errors.New("want a positive whole number, or -1 for none")
		}
		*p = n
		return nil
	}
}

// level parses a log level.
func level(p *slog.Level) func(string) error {
	return func(v string) error {
		if err := p.UnmarshalText([]byte(v)); err != nil {
			return errors.New("want debug, info, warn or error")
		}
		return nil
	}
}

// oneOf accepts one of the allowed words.
func oneOf(p *string, allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

// list parses a comma-separated list.
func list(p *[]string) func(string) error {
	return func(v string) error {
		*p = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*p = append(*p, item)
			}
		}
		return nil
	}
}

// warmTargets parses CACHE_WARM with proxy.ParseWarmTargets.
func warmTargets(p *[]proxy.WarmTarget) func(string) error {
	return func(v string) error {
		t, err := proxy.ParseWarmTargets(v)
		if err != nil {
			return err
		}
		*p = t
		return nil
	}
}

// size parses a byte count with proxy.ParseSize.
func size(p *int64) func(string) error {
	return func(v string) error {
		n, err := proxy.ParseSize(v)
		if err != nil {
			return err
		}
		*p = n
		return nil
	}
}

// policyFile reads and parses a cache policy file.
func policyFile(p **proxy.Policy) func(string) error {
	return func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		pol, err := proxy.ParsePolicy(f, path)
		if err != nil {
			return err
		}
		*p = pol
		return nil
	}
}

// authFile reads and parses an auth config file and remembers its path.
func authFile(a **proxy.AuthConfig, path *string) func(string) error {
	return func(p string) error {
		cfg, err := readAuthConfig(p)
		if err != nil {
			return err
		}
		*a, *path = cfg, p
		return nil
	}
}

// readAuthConfig reads and parses the auth config file at path.
func readAuthConfig(path string) (*proxy.AuthConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return proxy.ParseAuthConfig(f, path)
}
