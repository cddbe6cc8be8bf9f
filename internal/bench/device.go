package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// The device authorization grant's hot path (RFC 8628): devices polling
// /token while the person has not yet approved. Every poll reads the
// device record and writes it back (compare-and-swap: when it polled,
// and a grown interval), so it measures a store write per request, as a
// fleet of CLIs or TVs waiting for their people causes.

// benchDeviceClient is a public client with the device grant, as a CLI's.
const benchDeviceClient = "bench-device"

// deviceClientConfig is its entry in the bench configuration.
func deviceClientConfig() config.Client {
	return config.Client{ID: benchDeviceClient, Public: true, GrantTypes: []string{config.GrantDeviceCode}}
}

// devicePollOp gives each worker a device code of its own, which nobody
// approves, and polls it. The answer is authorization_pending, or
// slow_down since the workers poll far faster than the interval: both are
// the same work (a read and a compare-and-swap of the record) and both
// count as success; anything else is an error.
func devicePollOp(ctx context.Context, c *http.Client, b *testenv.Broker, workers int) (op, error) {
	forms := make([]string, workers)
	for w := range workers {
		form := url.Values{"client_id": {benchDeviceClient}, "scope": {"openid"}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/device/authorize", strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		body, err := do(c, req)
		if err != nil {
			return nil, err
		}
		var d struct {
			DeviceCode string `json:"device_code"`
		}
		if err := json.Unmarshal(body, &d); err != nil || d.DeviceCode == "" {
			return nil, fmt.Errorf("POST /device/authorize: no device_code in %s", truncate(string(body), 100))
		}
		forms[w] = url.Values{"grant_type": {config.GrantDeviceCode}, "client_id": {benchDeviceClient}, "device_code": {d.DeviceCode}}.Encode()
	}
	pending, slow := []byte(`"error":"authorization_pending"`), []byte(`"error":"slow_down"`)
	return func(ctx context.Context, w int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/token", strings.NewReader(forms[w%workers]))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusBadRequest || !(bytes.Contains(body, pending) || bytes.Contains(body, slow)) {
			return fmt.Errorf("device poll: status %d: %s", resp.StatusCode, truncate(string(body), 200))
		}
		return nil
	}, nil
}
