package broker

import (
	"context"
	"time"
)

// SetBackchannelWait replaces the wait between back-channel logout
// attempts, so tests decide when a retry happens instead of sleeping.
func (b *Broker) SetBackchannelWait(f func(ctx context.Context, attempt int) error) {
	b.protocol.SetBackchannelWait(f)
}

// SetBackchannelCloseGrace sets how long Close lets deliveries run.
func (b *Broker) SetBackchannelCloseGrace(d time.Duration) { b.protocol.SetBackchannelCloseGrace(d) }
