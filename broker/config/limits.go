package config

// Upper bounds of the identity limits: beyond them a limit no longer
// protects the store or the tokens (and the plugin and WASM runtimes
// refuse answers over 4 MiB anyway).
const (
	MaxClaimLengthLimit     = 64 << 10
	MaxGroupsLimit          = 100_000
	MaxAttributesLimit      = 10_000
	MaxAttributeValuesLimit = 100_000
	MaxSizeLimit            = 16 << 20
)

func (l ConnectorLimits) validate(v *validator, p string) {
	for _, f := range []struct {
		name     string
		val, max int
	}{
		{"max_claim_length", l.MaxClaimLength, MaxClaimLengthLimit},
		{"max_groups", l.MaxGroups, MaxGroupsLimit},
		{"max_attributes", l.MaxAttributes, MaxAttributesLimit},
		{"max_attribute_values", l.MaxAttributeValues, MaxAttributeValuesLimit},
		{"max_size", l.MaxSize, MaxSizeLimit},
	} {
		switch {
		case f.val < 0:
			v.add(p+"."+f.name, "must not be negative, got %d (leave it out for the default)", f.val)
		case f.val > f.max:
			v.add(p+"."+f.name, "%d is more than %d, the most allowed", f.val, f.max)
		}
	}
	if l.MaxSize > 0 && l.MaxClaimLength > l.MaxSize {
		v.add(p+".max_claim_length", "%d is more than max_size (%d): no identity could hold such a claim", l.MaxClaimLength, l.MaxSize)
	}
}
