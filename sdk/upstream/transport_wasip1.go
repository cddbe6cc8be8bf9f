//go:build wasip1

package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-idp/portico/sdk/wasm/abi"
)

// In a WASM connector module there are no sockets: every HTTP request goes
// through the broker's http_request host function, which checks the host
// against the connector's allow-list and bounds time and size. Making it
// the default transport covers the clients NewClient returns (they leave
// Transport nil) and http.DefaultClient, which x/oauth2 and go-oidc fall
// back to, so connectors build unchanged for wasip1.
func init() { http.DefaultTransport = HostTransport{} }

// maxRequestBody bounds what a module may send in one request; the broker
// refuses more anyway.
const maxRequestBody = 1 << 20

// HostTransport is an http.RoundTripper over the http_request host
// function.
type HostTransport struct{}

// RoundTrip sends req through the broker. The request context's deadline
// (which http.Client.Timeout sets) becomes the request's timeout: timers
// cannot fire inside the module while the broker holds the call, so the
// broker enforces it.
func (HostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	hr := abi.HTTPRequest{Method: req.Method, URL: req.URL.String(), Headers: req.Header.Clone(), TimeoutMS: DefaultTimeout.Milliseconds()}
	if hr.Method == "" {
		hr.Method = http.MethodGet
	}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			closeBody(req)
			return nil, context.DeadlineExceeded
		}
		hr.TimeoutMS = max(left.Milliseconds(), 1)
	}
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		if len(b) > maxRequestBody {
			return nil, errors.New("request body too large for http_request")
		}
		hr.Body = b
	}
	resp, err := abi.HTTP(hr)
	if err != nil {
		return nil, err
	}
	h := http.Header(resp.Headers)
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		Status:        strconv.Itoa(resp.Status) + " " + http.StatusText(resp.Status),
		StatusCode:    resp.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
