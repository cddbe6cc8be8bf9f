package wasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/portico-idp/portico/plugins/internal/signing"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// Open loads the module cfg names: cfg.Path, checked against cfg.SHA256,
// or with reload on against the digest in cfg.Path + ".sha256" (as
// sha256sum writes it), which is then watched together with the module;
// and with publisher keys configured, against its minisign signature
// (cfg.Signature, or cfg.Path + ".minisig"), which a reloaded module must
// carry too. New and Replace, which take bytes, check no signature.
// The compilation cache is env.Cache, or one in cfg.CacheDir (see
// newCache for the default and what happens when it cannot be used).
func Open(ctx context.Context, cfg Config, env Env) (*Module, error) {
	keys, err := cfg.keys()
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(cfg.Path)
	if err != nil {
		return nil, refuse(err)
	}
	if cfg.Reload {
		want, err := readDigest(cfg.Path)
		if err != nil {
			return nil, refuse(err)
		}
		if sum := SHA256(wasm); sum != want {
			return nil, refuse(fmt.Errorf("%s has SHA-256 %s, %s.sha256 says %s", cfg.Path, sum, cfg.Path, want))
		}
	}
	if cfg.SHA256 != "" && cfg.SHA256 != SHA256(wasm) {
		// Before the cache is made: a refused module leaves nothing behind.
		return nil, refuse(fmt.Errorf("it has SHA-256 %s, the config pins %s", SHA256(wasm), cfg.SHA256))
	}
	// The bytes read, not the file again: what is verified is what runs.
	signer, err := keys.Verify(wasm, cfg.Path, cfg.Signature)
	if err != nil {
		return nil, refuse(err)
	}
	own, cacheDir := false, ""
	if env.Cache == nil {
		log := env.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		env.Cache, cacheDir = newCache(cfg.CacheDir, env.DataDir, log)
		own = true
	}
	m, err := newModule(ctx, wasm, cfg, env, cacheDir)
	if err != nil {
		if own {
			env.Cache.Close(context.Background())
		}
		return nil, err
	}
	m.ownCache = own
	m.keys = keys
	if keys.Required() {
		m.log.Info("wasm: module signature verified", "key", signer.KeyID, "comment", signer.Comment)
	}
	if cfg.Reload {
		m.stop, m.stopped = make(chan struct{}), make(chan struct{})
		go m.watch(cfg.Path, cfg.Signature, time.Duration(cfg.ReloadInterval))
	}
	return m, nil
}

// readDigest reads path.sha256: a hex SHA-256, optionally followed by a
// file name as sha256sum prints it.
func readDigest(path string) (string, error) {
	b, err := os.ReadFile(path + ".sha256")
	if err != nil {
		return "", fmt.Errorf("wasm: with reload on, %s.sha256 pins the module: %w", path, err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("wasm: %s.sha256 does not start with a SHA-256 in hex", path)
	}
	return strings.ToLower(f[0]), nil
}

// stamp tells whether the module or its digest file may have changed
// without reading them: a file renamed into place is another file even
// when its size and modification time look the same.
type stamp struct {
	mod, digest, sig os.FileInfo // nil when missing
}

// stampOf looks at the module at path, its digest file and its signature
// at sigPath: a deploy may write them in any order.
func stampOf(path, sigPath string) (stamp, error) {
	var s stamp
	var err error
	if s.mod, err = os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return stamp{}, nil
	} else if err != nil {
		return stamp{}, err
	}
	s.digest, _ = os.Stat(path + ".sha256")
	s.sig, _ = os.Stat(sigPath)
	return s, nil
}

func (s stamp) missing() bool { return s.mod == nil }

func (s stamp) same(o stamp) bool {
	same := func(a, b os.FileInfo) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
	}
	return same(s.mod, o.mod) && same(s.digest, o.digest) && same(s.sig, o.sig)
}

// watch polls the module file, since Portico has no admin API: a changed
// module whose digest file matches replaces the loaded one; a removed
// module takes the connector out of service until it is back. A module
// that does not match its digest (a deploy half done) is left alone until
// the next change.
func (m *Module) watch(path, sigPath string, every time.Duration) {
	if sigPath == "" {
		sigPath = path + signing.Suffix
	}
	defer close(m.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	var last stamp // the first look reads the file: it may have changed since Open read it
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		st, err := stampOf(path, sigPath)
		if err != nil || (st.same(last) && last.mod != nil) {
			continue
		}
		last = st
		if st.missing() {
			if m.SHA256() != "" {
				m.log.Warn("wasm: the module file is gone; logins through this connector fail until it is back", "path", path)
				m.Remove()
			}
			continue
		}
		m.reload(path, sigPath)
	}
}

func (m *Module) reload(path, sigPath string) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		m.log.Error("wasm: reload: read the module", "err", err)
		return
	}
	sum := SHA256(wasm)
	if sum == m.SHA256() {
		return
	}
	want, err := readDigest(path)
	if err == nil && want != sum {
		err = fmt.Errorf("the module has SHA-256 %s, %s.sha256 says %s", sum, path, want)
	}
	var signer signing.Signer
	if err == nil {
		signer, err = m.keys.Verify(wasm, path, sigPath)
	}
	if err != nil {
		m.log.Warn("wasm: reload: not loading the changed module", "err", err)
		return
	}
	// Compiling a Go-built module takes a while; instantiating it is
	// bounded by the call timeout inside.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-m.stop: // Close does not wait for a compilation
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := m.Replace(ctx, wasm, sum); err != nil {
		m.log.Error("wasm: reload failed; the loaded module stays", "err", err)
		return
	}
	if m.keys.Required() {
		m.log.Info("wasm: module reloaded", "sha256", sum, "key", signer.KeyID, "comment", signer.Comment)
		return
	}
	m.log.Info("wasm: module reloaded", "sha256", sum)
}

// withCloser returns r with exactly the sdk interfaces the module reported
// (as wire.Connector does) and io.Closer, so the broker closes the module
// at shutdown.
func withCloser(r *wire.Remote, c io.Closer) any {
	i := r.Info()
	type pw = sdk.PasswordConnector
	type cb = sdk.CallbackConnector
	type rf = sdk.RefreshConnector
	type md = sdk.MetadataConnector
	type cl = io.Closer
	switch {
	case i.Password && i.Callback && i.Refresh:
		return struct {
			pw
			cb
			rf
			cl
		}{r, r, r, c}
	case i.Password && i.Callback:
		return struct {
			pw
			cb
			cl
		}{r, r, c}
	case i.Password && i.Refresh:
		return struct {
			pw
			rf
			cl
		}{r, r, c}
	case i.Password:
		return struct {
			pw
			cl
		}{r, c}
	case i.Callback && i.Refresh && i.Metadata:
		return struct {
			cb
			rf
			md
			cl
		}{r, r, r, c}
	case i.Callback && i.Refresh:
		return struct {
			cb
			rf
			cl
		}{r, r, c}
	case i.Callback && i.Metadata:
		return struct {
			cb
			md
			cl
		}{r, r, c}
	case i.Callback:
		return struct {
			cb
			cl
		}{r, c}
	}
	return struct{ cl }{c}
}
