// Package upstream helps connectors that talk to an upstream service, built
// in or written by plugin authors: the per-call HTTP timeout, the rule that
// sorts upstream failures into "try later" (sdk.ErrUnavailable) and "not
// this person", strict decoding of a connector's JSON config with
// field-named errors and durations written as strings, and the sealing of
// upstream tokens kept in an identity's ConnectorData. Like the rest of
// sdk, it imports nothing of the broker.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultTimeout bounds every upstream HTTP call unless configured.
const DefaultTimeout = 10 * time.Second

// MaxTimeout is the largest timeout a config may ask for.
const MaxTimeout = 5 * time.Minute

// Duration is a time.Duration written in JSON as a string ("10s").
type Duration time.Duration

// MarshalJSON writes d as a string such as "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "10s" or "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	// An UnmarshalTypeError gets the field's path from encoding/json.
	bad := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return bad
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return bad
	}
	*d = Duration(v)
	return nil
}

// DecodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data. Errors start with prefix ("oidc: config") and name the
// field, as in "oidc: config.timeout: ...".
func DecodeStrict(prefix string, raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			val := te.Value
			if len(val) > 40 {
				val = val[:40] + "..."
			}
			if te.Type == reflect.TypeFor[Duration]() {
				return fmt.Errorf("%s.%s: %s is not a duration; write one as a string such as \"10s\"", prefix, te.Field, val)
			}
			return fmt.Errorf("%s.%s: expected %s, got %s", prefix, te.Field, kindName(te.Type), val)
		case errors.As(err, &te):
			return fmt.Errorf("%s: expected a JSON object, got %s", prefix, te.Value)
		case errors.As(err, &se):
			return fmt.Errorf("%s: invalid JSON at offset %d: %w", prefix, se.Offset, err)
		}
		return fmt.Errorf("%s: %s", prefix, strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: unexpected data after the JSON object", prefix)
	}
	return nil
}

func kindName(t reflect.Type) string {
	switch {
	case t == nil:
		return "another type"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		return "an object"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

// CheckTimeout reports a timeout out of (0, MaxTimeout] through bad.
func CheckTimeout(bad func(field, format string, args ...any), field string, d Duration) {
	if d <= 0 || time.Duration(d) > MaxTimeout {
		bad(field, "%v is out of range (0, %v]", time.Duration(d), MaxTimeout)
	}
}

// CheckURL reports through bad a URL that is not absolute https, or http
// to a loopback host (tests, a sidecar). Tokens and codes cross it.
func CheckURL(bad func(field, format string, args ...any), field, raw string) {
	if raw == "" {
		bad(field, "required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		bad(field, "%v", err)
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		bad(field, "%q is not an absolute http(s) URL", raw)
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		bad(field, "%q: http is allowed only for loopback hosts; use https", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		bad(field, "%q must not carry user info, a query or a fragment", raw)
	case strings.HasSuffix(raw, "/"):
		bad(field, "%q must not end with a slash", raw)
	}
}

// CheckEndpoint checks a URL an upstream gave us (an endpoint in its
// discovery document): absolute, https, or http to a loopback host.
func CheckEndpoint(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("missing")
	case err != nil:
		return err
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%q is not an absolute http(s) URL", Printable(raw, 200))
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		return fmt.Errorf("%q: http is allowed only for loopback hosts", Printable(raw, 200))
	}
	return nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewClient returns the HTTP client for one connector's upstream calls.
// Timeout bounds each request from dial to the end of the body, so a hung
// upstream costs a login at most that long. Redirects are not followed:
// OAuth and API endpoints do not redirect, and following one would send
// a bearer token wherever the upstream (or an attacker on its path) says.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// WithClient returns ctx carrying c for x/oauth2 and go-oidc calls.
func WithClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// Unavailable reports whether err means the upstream could not be asked or
// did not answer: a network error or timeout, an HTTP 5xx, 429 (too many
// requests) or 408 (request timeout), an OAuth error server_error or
// temporarily_unavailable, or a success that is not a token response.
// Such failures are "try later", never "not this person".
//
// Every other answer of a token endpoint is the upstream's refusal (RFC
// 6749 §5.2): any other 4xx, whatever its error code or body (Dex answers
// a claimed or expired refresh token with 400 invalid_request), and an
// OAuth error in a 2xx body (GitHub). Reading a refusal as "try later"
// would keep a session the upstream has ended alive, answering 503 for
// ever instead of sending the person to log in again.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "server_error", "temporarily_unavailable":
			return true
		}
		if re.Response == nil {
			return true // not an answer the upstream gave
		}
		switch st := re.Response.StatusCode; {
		case st == http.StatusTooManyRequests, st == http.StatusRequestTimeout:
			return true
		case st >= 500 || st < 200:
			return true
		case st >= 400:
			return false
		default: // 2xx or 3xx: an error in the body is a refusal, none is garbage
			return re.ErrorCode == ""
		}
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.HasPrefix(err.Error(), "oauth2: cannot") || strings.HasPrefix(err.Error(), "oauth2: server response missing")
}

// OAuthErrorCode returns the OAuth error code of a token endpoint answer
// ("invalid_grant"), or "".
func OAuthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// Printable shortens an upstream-supplied string for a log line or an
// error, dropping control characters, so a hostile upstream cannot forge
// log lines or fill them.
func Printable(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
