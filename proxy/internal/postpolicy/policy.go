// Package postpolicy decodes the policy document of a browser POST upload
// and checks a form against it, as S3 does.
//
// A policy is base64 JSON with an expiration and a list of conditions:
//
//	{"expiration": "2030-01-01T00:00:00Z",
//	 "conditions": [{"bucket": "photos"}, ["starts-with", "$key", "user/"],
//	                ["content-length-range", 0, 1048576]]}
//
// A condition is an object of exact matches, ["eq", "$field", "value"],
// ["starts-with", "$field", "prefix"] or ["content-length-range", min, max].
// Operator and field names are matched without regard to case, values
// exactly. Every field of the form but the signature, the policy, the file
// and x-ignore-* fields must be named by a condition (the bucket is always
// a field), so that nothing the signer did not allow reaches the store.
//
// Errors are *Error values with the status and S3 code to answer.
//
// The proxy uses it in proxy/postupload.go: ReadForm reads a form up to
// its file, Parse and Check judge it before any of the file is read, and
// the file streams to the backend as a PutObject.
package postpolicy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxDocument bounds a decoded policy document. S3 documents no limit on
// the policy itself; its form fields before the file are bounded, and a
// policy is one of them.
const MaxDocument = 64 << 10

// Error is a policy document that cannot be used, a form it refuses, or a
// form that cannot be read: an HTTP status, an S3 error code and S3's
// message, for the caller to send.
type Error struct {
	Status  int    // 400 or 403
	Code    string // e.g. "InvalidPolicyDocument", "AccessDenied"
	Message string
}

func (e *Error) Error() string { return "postpolicy: " + e.Code + ": " + e.Message }

func malformed(format string, args ...any) *Error {
	return &Error{Status: 400, Code: "InvalidPolicyDocument", Message: "Invalid Policy: " + fmt.Sprintf(format, args...)}
}

func refused(format string, args ...any) *Error {
	return &Error{Status: 403, Code: "AccessDenied", Message: "Invalid according to Policy: " + fmt.Sprintf(format, args...)}
}

// Policy is a decoded policy document. The zero value allows nothing.
type Policy struct {
	// Expiration is when the policy stops allowing uploads.
	Expiration time.Time
	// MinLength and MaxLength are the file size bounds of its
	// content-length-range condition; HasLength is false when it has none.
	MinLength, MaxLength int64
	HasLength            bool

	conds []condition
}

// condition is one match on a form field, named in lower case.
type condition struct {
	op    string // "eq" or "starts-with"
	field string
	value string
}

// expirationLayouts are the forms of "expiration" accepted: ISO 8601 UTC,
// with or without fractional seconds.
var expirationLayouts = []string{"2006-01-02T15:04:05.999999999Z", time.RFC3339Nano}

// Parse decodes a policy from the base64 value of a form's policy field.
func Parse(encoded string) (*Policy, error) {
	if base64.StdEncoding.DecodedLen(len(encoded)) > MaxDocument {
		return nil, malformed("the policy document is larger than %d bytes", MaxDocument)
	}
	doc, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return nil, malformed("the policy is not valid base64")
	}
	// Decoded into a map, not a struct: encoding/json matches names
	// without regard to case, and S3 does not ("EXPIRATION" is no
	// expiration).
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil || raw == nil {
		return nil, malformed("the policy is not a JSON object")
	}
	var expiration string
	var conditions []json.RawMessage
	for k, v := range raw {
		var err error
		switch k {
		case "expiration":
			err = json.Unmarshal(v, &expiration)
		case "conditions":
			err = json.Unmarshal(v, &conditions)
		default:
			return nil, malformed("Unexpected field %q.", k)
		}
		if err != nil {
			return nil, malformed("%q has the wrong type", k)
		}
	}
	if _, ok := raw["expiration"]; !ok {
		return nil, malformed("Policy missing expiration.")
	}
	if _, ok := raw["conditions"]; !ok || conditions == nil {
		return nil, malformed("Policy missing conditions.")
	}
	p := &Policy{}
	for _, layout := range expirationLayouts {
		if t, err := time.Parse(layout, expiration); err == nil {
			p.Expiration = t
			break
		}
	}
	if p.Expiration.IsZero() {
		return nil, malformed("Invalid 'expiration' value: '%s'", expiration)
	}
	for _, c := range conditions {
		if err := p.addCondition(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Policy) addCondition(c json.RawMessage) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(c, &obj) == nil && obj != nil {
		if len(obj) == 0 {
			return malformed("a condition is an empty object")
		}
		for k, v := range obj {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return malformed("the condition on %q is not a string", k)
			}
			p.conds = append(p.conds, condition{op: "eq", field: strings.ToLower(strings.TrimPrefix(k, "$")), value: s})
		}
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(c, &list) != nil || len(list) == 0 {
		return malformed("a condition is neither an object nor a list")
	}
	var op string
	if json.Unmarshal(list[0], &op) != nil {
		return malformed("a condition's operator is not a string")
	}
	switch op = strings.ToLower(op); op {
	case "eq", "starts-with":
		var field, value string
		if len(list) != 3 || json.Unmarshal(list[1], &field) != nil || json.Unmarshal(list[2], &value) != nil {
			return malformed("[%q, \"$field\", \"value\"] wants a field and a string", op)
		}
		if !strings.HasPrefix(field, "$") {
			return malformed("the field of %q must start with $: %q", op, field)
		}
		p.conds = append(p.conds, condition{op: op, field: strings.ToLower(field[1:]), value: value})
	case "content-length-range":
		if len(list) != 3 {
			return malformed("content-length-range wants a minimum and a maximum")
		}
		lo, ok1 := lengthBound(list[1])
		hi, ok2 := lengthBound(list[2])
		if !ok1 || !ok2 || lo > hi {
			return malformed("content-length-range bounds must be whole numbers, 0 ≤ min ≤ max")
		}
		p.MinLength, p.MaxLength, p.HasLength = lo, hi, true
	default:
		return malformed("unknown condition operator %q", op)
	}
	return nil
}

// lengthBound decodes a content-length-range bound: a non-negative whole
// number, as a JSON number or a string of digits.
func lengthBound(v json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f > math.MaxInt64/2 {
		return 0, false
	}
	return int64(f), true
}

// exempt reports whether a form field need not be named by a condition:
// the signature, the policy, the file and x-ignore-* fields.
func exempt(field string) bool {
	switch field {
	case "policy", "x-amz-signature", "signature", "awsaccesskeyid", "file":
		return true
	}
	return strings.HasPrefix(field, "x-ignore-")
}

// Check reports whether fields, the form's fields by lower-case name with
// "bucket" set to the bucket the form is posted to and "key" the key it
// will be stored under, are allowed by p at now. The file's size is
// checked with CheckLength once known.
func (p *Policy) Check(fields map[string]string, now time.Time) error {
	if !now.Before(p.Expiration) {
		return refused("Policy expired.")
	}
	covered := map[string]bool{}
	for _, c := range p.conds {
		covered[c.field] = true
		got := fields[c.field]
		switch {
		case c.op == "eq" && got != c.value:
			return refused(`Policy Condition failed: ["eq", "$%s", %q]`, c.field, c.value)
		case c.op == "starts-with" && !startsWith(c.field, got, c.value):
			return refused(`Policy Condition failed: ["starts-with", "$%s", %q]`, c.field, c.value)
		}
	}
	var extra []string
	for name := range fields {
		if !covered[name] && !exempt(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return refused("Extra input fields: %s", strings.Join(extra, ", "))
	}
	return nil
}

// startsWith applies a starts-with condition. For Content-Type, as in S3,
// the value may list several types separated by commas, each of which must
// start with the prefix.
func startsWith(field, value, prefix string) bool {
	if field != "content-type" {
		return strings.HasPrefix(value, prefix)
	}
	for t := range strings.SplitSeq(value, ",") {
		if !strings.HasPrefix(strings.TrimSpace(t), prefix) {
			return false
		}
	}
	return true
}

// Length errors, in S3's words; CheckLength returns them.
var (
	ErrTooLarge = &Error{Status: 400, Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed size"}
	ErrTooSmall = &Error{Status: 400, Code: "EntityTooSmall", Message: "Your proposed upload is smaller than the minimum allowed size"}
)

// CheckLength reports whether a file of n bytes fits p's
// content-length-range: nil, ErrTooLarge or ErrTooSmall.
func (p *Policy) CheckLength(n int64) error {
	switch {
	case !p.HasLength:
		return nil
	case n > p.MaxLength:
		return ErrTooLarge
	case n < p.MinLength:
		return ErrTooSmall
	}
	return nil
}
