package metrics

import "time"

// SetNow replaces m's clock, which the store decorator's memory of refused
// writes reads.
func SetNow(m *Metrics, now func() time.Time) { m.now = now }

// RefusalHold is refusalHold, for tests that step past it.
const RefusalHold = refusalHold
