package configschema_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/portico-idp/portico/sdk/configschema"
)

type Duration time.Duration

type search struct {
	BaseDN string   `json:"base_dn"`
	Attrs  []string `json:"attrs,omitempty"`
}

type config struct {
	URL      string            `json:"url"`
	TLS      bool              `json:"tls,omitempty"`
	Pool     int               `json:"pool,omitempty"`
	Timeout  Duration          `json:"timeout,omitempty"`
	Search   search            `json:"search"`
	Searches []search          `json:"searches,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Secret   string            `json:"-"`
	hidden   string
}

// TestFor: each kind of field becomes its JSON Schema, in field order,
// with the fields without omitempty required.
func TestFor(t *testing.T) {
	s := configschema.For(config{})
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
		Order      []string                  `json:"x-order"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"url": "string", "tls": "boolean", "pool": "integer", "timeout": "string",
		"search": "object", "searches": "array", "labels": "object"}
	for name, typ := range want {
		if got.Properties[name]["type"] != typ {
			t.Errorf("%s: type %v, want %s", name, got.Properties[name]["type"], typ)
		}
	}
	if len(got.Properties) != len(want) {
		t.Errorf("properties %v: the skipped and unexported fields must not be there", got.Properties)
	}
	if got.Properties["timeout"]["format"] != "duration" {
		t.Errorf("timeout: %v, want a duration string", got.Properties["timeout"])
	}
	if !slices.Equal(got.Required, []string{"url", "search"}) {
		t.Errorf("required %v", got.Required)
	}
	if !slices.Equal(got.Order, []string{"url", "tls", "pool", "timeout", "search", "searches", "labels"}) {
		t.Errorf("order %v", got.Order)
	}
}
