package config

import (
	"strings"
	"testing"
)

// TestConnectorLimits: connectors[].limits is decoded strictly and each
// field checked, every problem reported by its path.
func TestConnectorLimits(t *testing.T) {
	for _, tc := range []struct {
		name, limits string
		want         []string // substrings of the error; none: valid
		check        func(ConnectorLimits) bool
	}{
		{name: "unset takes the defaults", limits: "", check: func(l ConnectorLimits) bool { return l == ConnectorLimits{} }},
		{name: "all set", limits: "{max_claim_length: 8192, max_groups: 3000, max_attributes: 50, max_attribute_values: 20, max_size: 262144}",
			check: func(l ConnectorLimits) bool {
				return l == ConnectorLimits{MaxClaimLength: 8192, MaxGroups: 3000, MaxAttributes: 50, MaxAttributeValues: 20, MaxSize: 262144}
			}},
		{name: "at the upper bounds", limits: "{max_claim_length: 65536, max_groups: 100000, max_attributes: 10000, max_attribute_values: 100000, max_size: 16777216}"},
		{name: "negative", limits: "{max_groups: -1, max_size: -5}",
			want: []string{"connectors[0].limits.max_groups: must not be negative, got -1", "connectors[0].limits.max_size: must not be negative, got -5"}},
		{name: "too large", limits: "{max_claim_length: 65537, max_attributes: 10001, max_attribute_values: 100001, max_size: 16777217}",
			want: []string{"connectors[0].limits.max_claim_length: 65537 is more than 65536",
				"connectors[0].limits.max_attributes: 10001 is more than 10000",
				"connectors[0].limits.max_attribute_values: 100001 is more than 100000",
				"connectors[0].limits.max_size: 16777217 is more than 16777216"}},
		{name: "claim longer than the identity", limits: "{max_claim_length: 5000, max_size: 4096}",
			want: []string{"connectors[0].limits.max_claim_length: 5000 is more than max_size (4096)"}},
		{name: "unknown field", limits: "{max_group: 10}", want: []string{"connectors[0].limits.max_group: unknown field (did you mean max_groups?)"}},
		{name: "not a number", limits: `{max_size: "128KiB"}`, want: []string{"connectors[0].limits.max_size: expected a whole number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := "{id: corp, type: local"
			if tc.limits != "" {
				conn += ", limits: " + tc.limits
			}
			cfg, err := Parse([]byte(head + "connectors: [" + conn + "}]\n"))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil && !tc.check(cfg.Connectors[0].Limits) {
					t.Errorf("limits %+v", cfg.Connectors[0].Limits)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
