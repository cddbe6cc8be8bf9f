package broker

import "context"

// SetBackchannelWait replaces the wait between back-channel logout
// attempts, so tests decide when a retry happens instead of sleeping.
func (b *Broker) SetBackchannelWait(f func(ctx context.Context, attempt int) error) {
	b.backchannel.wait.Store(&f)
}
