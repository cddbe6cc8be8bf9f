package process

import (
	"context"
	"strconv"
	"time"

	"github.com/portico-idp/portico/sdk/wire"
)

// supervise watches the running instance and restarts it when it dies or
// stops answering, until Close.
func (p *Plugin) supervise() {
	defer close(p.done)
	poll := time.NewTicker(p.opts.PollInterval)
	defer poll.Stop()
	health := time.NewTicker(p.opts.HealthInterval)
	defer health.Stop()
	backoff := p.opts.MinBackoff
	// A plugin busy with real work (a burst of logins hashing passwords
	// on a loaded machine) can miss one check's deadline: only a plugin
	// that misses healthMisses checks in a row is taken for hung.
	misses := 0
	for {
		var why string
		force := false
		select {
		case <-p.stop:
			return
		case <-poll.C:
		case <-p.poke:
		case <-health.C:
			if err := p.healthCheck(); err == nil {
				misses = 0
			} else if misses++; misses >= healthMisses {
				why, force = "failed its health check "+strconv.Itoa(misses)+" times in a row: "+err.Error(), true
				misses = 0
			} else {
				p.log.Warn("plugin missed a health check", "misses", misses, "err", err)
			}
		}
		p.mu.Lock()
		inst := p.cur
		p.mu.Unlock()
		if inst == nil {
			continue // Close took it; stop is about to be seen
		}
		if why == "" && !inst.exited() {
			continue
		}
		if why == "" {
			why = "exited"
		}
		p.mu.Lock()
		if p.cur != inst { // Close took it meanwhile, and kills it
			p.mu.Unlock()
			continue
		}
		p.cur = nil
		p.mu.Unlock()
		inst.kill(force)
		// A plugin that ran a while before it died starts over from the
		// shortest delay; one that dies at once backs off further.
		if time.Since(inst.started) > p.opts.MaxBackoff {
			backoff = p.opts.MinBackoff
		}
		p.log.Error("plugin down; logins through it fail as unavailable until it is restarted",
			"pid", inst.pid, "reason", why, "restart_in", backoff.String())
		if !p.restart(&backoff) {
			return
		}
	}
}

// healthMisses is how many health checks in a row a plugin may miss
// before it is killed and restarted.
const healthMisses = 3

// restart starts a new instance, retrying with growing delays; false when
// the plugin was closed meanwhile.
func (p *Plugin) restart(backoff *time.Duration) bool {
	for {
		select {
		case <-p.stop:
			return false
		case <-time.After(*backoff):
		}
		*backoff = min(*backoff*2, p.opts.MaxBackoff)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(p.cfg.StartTimeout)+time.Duration(p.cfg.Timeout))
		// Close does not wait for a start in progress to time out.
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		inst, err := p.launch(ctx)
		cancel()
		if err == nil && inst.remote.Info() != p.info {
			err = errCapabilities(p.info, inst.remote.Info())
			inst.kill(false)
		}
		if err != nil {
			p.log.Error("plugin restart failed", "err", err, "retry_in", backoff.String())
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			inst.kill(false)
			return false
		}
		p.cur = inst
		p.mu.Unlock()
		p.log.Info("plugin restarted", "pid", inst.pid)
		if p.opts.OnRestart != nil {
			p.opts.OnRestart()
		}
		return true
	}
}

// healthCheck asks the running instance what it is, with a short
// deadline: the gRPC server answers while other calls hang, so a failure
// means the process is stuck (stopped, deadlocked) or gone.
func (p *Plugin) healthCheck() error {
	inst, err := p.current()
	if err != nil {
		return nil // down already; the exit check handles it
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(2*time.Second, time.Duration(p.cfg.Timeout)))
	defer cancel()
	_, err = wire.Dial(ctx, inst.t)
	return err
}
