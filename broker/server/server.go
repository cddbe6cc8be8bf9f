// Package server assembles a running Portico from a configuration: the
// store, the token service, the connectors and the broker's HTTP handler.
// The CLI and testenv both start Portico through it, so what tests run is
// what operators run.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/portico-idp/portico/broker/journey"
	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/portico-idp/portico/broker/identity"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/broker/metrics"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/postgres"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/tokensvc"
)

// Server is an assembled Portico.
type Server struct {
	Config  *config.Config
	Store   store.Store
	Tokens  *tokensvc.Service
	Broker  *broker.Broker
	Metrics *metrics.Metrics
	conns   []broker.Connector
	log     *slog.Logger
	built   *builtConnectors // added or replaced through the admin API
	// stopTracing flushes and stops the trace exporter.
	stopTracing func(context.Context) error
	// stopMail stops the mail outbox's worker (mail.go).
	stopMail func()
	// watch is the store's, unwrapped, when it tells of other replicas'
	// changes (postgres): sync reloads on it, not only on its timer.
	watch store.Watcher
	// clients is the client cache over the store, emptied by sync.
	clients *clientCache
}

// builtConnectors are the connectors built at runtime, closed with the
// server: a replaced or deleted one may still serve a request in flight,
// so none is closed earlier.
type builtConnectors struct {
	mu   sync.Mutex
	list []broker.Connector
}

// connectorBuilder builds one connector as connectors() does, for the
// admin API's hot add and replace; the broker applies it only on success.
func connectorBuilder(cfg *config.Config, st store.Store, log *slog.Logger, hashing *local.Limiter, built *builtConnectors, restarted func(runtime, id string)) admin.ConnectorBuilder {
	return func(ctx context.Context, c admin.ConnectorSpec) (broker.Connector, error) {
		f := factories[c.Type]
		if f == nil {
			return broker.Connector{}, fmt.Errorf("unknown connector type %q", c.Type)
		}
		master, err := masterKey(cfg.Storage.Dir)
		if err != nil {
			return broker.Connector{}, fmt.Errorf("connector key: %w", err)
		}
		raw := c.Config
		if len(raw) == 0 {
			raw = []byte("null")
		}
		dataDir := cfg.Storage.Dir
		if c.DryRun {
			// A test build keeps nothing: files a connector makes (a SAML
			// SP key) go to a directory removed once it is built.
			tmp, err := os.MkdirTemp("", "portico-connector-test-")
			if err != nil {
				return broker.Connector{}, fmt.Errorf("connector %s: %w", c.ID, err)
			}
			defer os.RemoveAll(tmp)
			dataDir = tmp
		}
		env := Env{
			ID: c.ID, Issuer: cfg.Issuer, CallbackURL: journey.CallbackURL(cfg.Issuer, c.ID), DataDir: dataDir,
			Key: connectorKey(master, c.ID), Store: st, Log: log.With("connector", c.ID),
			OnRestart: func() { restarted(runtimeOf(c.Type, ""), c.ID) },
			Strict:    true, hashing: hashing,
		}
		// Connectors must outlive the request that built them.
		impl, err := f(context.WithoutCancel(ctx), raw, env)
		if err != nil {
			return broker.Connector{}, fmt.Errorf("connector %s: %w", c.ID, err)
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		cn := broker.Connector{ID: c.ID, Type: c.Type, Name: name, Impl: impl, Runtime: runtimeOf(c.Type, ""),
			Deadline: deadlineOf(c.Type, "", raw)}
		if c.DryRun {
			return cn, nil // the test closes it
		}
		built.mu.Lock()
		built.list = append(built.list, cn)
		built.mu.Unlock()
		return cn, nil
	}
}

// openTimeout bounds connecting to PostgreSQL and migrating its schema at
// start: an unreachable server would otherwise hold the start for as long
// as the OS retries a connection, with nothing said.
const openTimeout = 2 * time.Minute

// OpenStore opens the configured storage backend: badger by default, or
// postgres, whose missing schema migrations it applies.
func OpenStore(cfg *config.Config, log *slog.Logger) (store.Store, error) {
	switch cfg.Storage.Type {
	case "", config.StorageBadger:
		st, err := badger.Open(badger.Options{Dir: cfg.Storage.Dir, SyncWrites: cfg.Storage.SyncWritesEnabled(), Logger: log,
			MinFreeSpace: uint64(cfg.Storage.MinFreeSpace)})
		if errors.Is(err, store.ErrUnavailable) {
			return nil, fmt.Errorf("%w; free space there and start again (lowering storage.min_free_space below what Badger needs risks a crash)", err)
		} else if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return st, nil
	case config.StoragePostgres:
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		st, err := postgres.Open(ctx, postgres.Options{DSN: cfg.Storage.DSN, Schema: cfg.Storage.Schema, Logger: log})
		if err != nil {
			return nil, err
		}
		return st, nil
	default:
		return nil, fmt.Errorf("storage.type: unknown backend %q", cfg.Storage.Type)
	}
}

// Open opens the store, seeds it from cfg and builds the broker.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every connector's type and config, before a store file exists
	// (check.go).
	if err := CheckConnectors(cfg); err != nil {
		return nil, err
	}
	st, err := OpenStore(cfg, log)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, cfg, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*Server, error) {
	cfg = withConsole(cfg) // the console's built-in client (console.go)
	// Every store call is timed, for /metrics, and traced when tracing
	// is on.
	m := metrics.New()
	watch, _ := st.(store.Watcher) // before the decorator hides it
	syncer, _ := st.(store.Syncer)
	tr, stopTracing, err := tracer(ctx, cfg.Ops.Tracing, "")
	if err != nil {
		return nil, err
	}
	if tr != nil {
		st = m.WrapStoreTraced(st, tr)
	} else {
		st = m.WrapStore(st)
	}
	m.WatchStore(st)
	// Clients from memory, for at most a second; emptied by any client
	// write here and by the replica sync's notification (clientcache.go).
	clients := newClientCache(st)
	st = clients
	tc := TokenConfig(cfg)
	tc.Logger = log
	tok, err := tokensvc.New(ctx, st, tc)
	if err != nil {
		return nil, err
	}
	if err := seed(ctx, cfg, st, log); err != nil {
		return nil, err
	}
	opts, err := options(cfg, st, tok, log, clockFrom(ctx))
	opts.Syncer = syncer
	if err == nil {
		opts.DPoP, err = dpopVerifier(ctx, cfg, st, clockFrom(ctx))
	}
	if err != nil {
		return nil, err
	}
	// One semaphore for every argon2id hash in the process, so that
	// login.hash.memory_budget bounds them all. New hashes take the
	// recommended cost; the local connector verifies any PHC parameters
	// and upgrades old ones at login.
	hp := local.DefaultParams
	if p := hashParamsFrom(ctx); p != (local.Params{}) { // tests only (hashparams.go)
		hp = p
	}
	hashing := hashLimiter(cfg, hp)
	opts.HashPassword = hashWith(hashing, hp)
	if opts.FileManaged, err = fileManaged(ctx, cfg, st); err != nil { // declarative.go
		return nil, err
	}
	opts.Middleware = []gin.HandlerFunc{m.GinMiddleware()}
	opts.OnAudit, opts.ObserveConnector, opts.Tracer = m.ObserveAudit, m.ObserveConnectorCall, tr
	built := &builtConnectors{}
	opts.BuildConnector = connectorBuilder(cfg, st, log, hashing, built, m.ConnectorRestarted)
	conns, err := connectors(ctx, cfg, st, log, hashing, m.ConnectorRestarted)
	if err != nil {
		return nil, err
	}
	opts.Connectors = conns
	mailNow := clockFrom(ctx)
	if mailNow == nil {
		mailNow = time.Now
	}
	outbox, err := MailOutbox(cfg, st, m.Registry(), log, mailNow) // mail.go
	if err != nil {
		closeConnectors(conns)
		return nil, err
	}
	if outbox != nil {
		opts.Mailer = outboxMailer{outbox}
	}
	b, err := broker.New(opts)
	if err != nil {
		closeConnectors(conns)
		return nil, err
	}
	stopMail := runOutbox(outbox, log)
	// The administrators' connector changes, kept in the store, win over
	// the file.
	if err := b.SyncConnectors(ctx); err != nil {
		closeConnectors(conns)
		return nil, err
	}
	m.BeforeScrape(func() {
		for _, cn := range b.Connectors() {
			if p, ok := cn.Impl.(interface{ PoolStats() (inUse, idle int) }); ok {
				inUse, idle := p.PoolStats()
				m.SetLDAPPool(cn.ID, inUse, idle)
			}
			if p, ok := cn.Impl.(ldapServers); ok { // issue 18: LDAP failover
				for _, st := range p.Servers() {
					m.SetLDAPServer(cn.ID, st.URL, st.Up)
				}
			}
		}
	})
	if cfg.Storage.Type == config.StoragePostgres && cfg.Storage.Dir == "" && cfg.Login.MFA.Key == "" {
		log.Warn("storage is postgres without storage.dir or login.mfa.key: the key that seals second factors " +
			"and upstream tokens is new at every start, so replicas cannot read each other's and a restart loses them")
	}
	return &Server{Config: cfg, Store: st, Tokens: tok, Broker: b, Metrics: m, conns: conns, log: log, built: built,
		stopTracing: stopTracing, stopMail: stopMail, watch: watch, clients: clients}, nil
}

// options are the broker's options from cfg, but for its connectors.
// now is the broker's clock: nil (time.Now) but in tests (clock.go).
func options(cfg *config.Config, st store.Store, tok *tokensvc.Service, log *slog.Logger, now func() time.Time) (broker.Options, error) {
	t := cfg.Tokens
	opts := broker.Options{
		Issuer: cfg.Issuer, Store: st, Tokens: tok, Logger: log, Now: now,
		AuthRequestTTL: t.AuthRequestTTL.Std(), AuthCodeTTL: t.AuthCodeTTL.Std(),
		DeviceCodeTTL: t.DeviceCodeTTL.Std(), DevicePollInterval: t.DevicePollInterval.Std(),
		RequirePushedRequests: t.RequirePushedAuthorizationRequests,
		AdminRole:             cfg.Admin.Role,
		PasswordPolicy:        cfg.PasswordPolicy.Policy(),
	}
	opts.WriteTimeout = cfg.HTTPWriteTimeout() // as Serve sets it
	opts.ConnectorSchemas = ConnectorSchemas()
	if !cfg.Admin.Console.Disabled {
		opts.ConsoleClient, opts.ConsoleFreshLogin = config.ConsoleClient, cfg.Admin.Console.FreshLogin.Std()
	}
	opts.ExchangeIssuers = cfg.TokenExchange.Issuers
	for _, c := range cfg.Clients {
		if c.Admin {
			opts.AdminClients = append(opts.AdminClients, c.ID)
		}
	}
	if r := cfg.Registration; r.Enabled {
		opts.Registration = &protocol.RegistrationOptions{DefaultGrantTypes: r.DefaultGrantTypes, AllowPrivateURIs: r.AllowPrivateURIs,
			InitialAccessTokenHashes: slices.Clone(r.InitialAccessTokenHashes)}
		for _, t := range r.InitialAccessTokens {
			opts.Registration.InitialAccessTokenHashes = append(opts.Registration.InitialAccessTokenHashes, core.HashClientSecret(t))
		}
	}
	if err := loginOptions(cfg, st, &opts); err != nil {
		return opts, err
	}
	return opts, identityOptions(cfg, &opts)
}

// OpenAdmin assembles a broker on st for its admin API alone, served in
// process by Broker.AdminHandler: the CLI's way to make the same changes
// as the served API, through the same code and audit trail, while the
// server is stopped. It starts no connector and seeds nothing; tc is the
// token service's configuration (its key plan). Close the broker to flush
// its audit events.
func OpenAdmin(ctx context.Context, cfg *config.Config, st store.Store, tc tokensvc.Config, log *slog.Logger) (*broker.Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tok, err := tokensvc.New(ctx, st, tc)
	if err != nil {
		return nil, err
	}
	c := *cfg
	if c.Issuer == "" {
		c.Issuer = tc.Issuer
	}
	opts, err := options(&c, st, tok, log, nil)
	if err != nil {
		return nil, err
	}
	opts.Syncer, _ = st.(store.Syncer)
	opts.HashPassword = hashWith(hashLimiter(&c, local.DefaultParams), local.DefaultParams)
	// The file's entries are as read-only from the command line as over
	// HTTP (declarative mode).
	if opts.FileManaged, err = fileManaged(ctx, &c, st); err != nil {
		return nil, err
	}
	return broker.New(opts)
}

// hashLimiter is the process's password hashing semaphore for hashes with
// p under login.hash.
func hashLimiter(cfg *config.Config, p local.Params) *local.Limiter {
	return local.NewLimiter(uint64(cfg.Login.Hash.MemoryBudget), p, cfg.Login.Hash.QueueTimeout.Std())
}

// hashWith is broker.Options.HashPassword: a hash with p under l.
func hashWith(l *local.Limiter, p local.Params) func(string) (string, error) {
	return func(pw string) (string, error) { return l.Hash(pw, p) }
}

// identityOptions sets o's claim mapping, linking, custom scopes and
// audit retention from cfg, which Validate has checked.
func identityOptions(cfg *config.Config, o *broker.Options) error {
	o.Mappings, o.Scopes = map[string]*mapping.Mapper{}, map[string][]string{}
	o.IdentityLimits = map[string]identity.Limits{}
	o.AuditRetention, o.AuditExclude = cfg.Audit.Retention.Std(), cfg.Audit.Exclude
	for i, c := range cfg.Connectors {
		l := c.Limits
		o.IdentityLimits[c.ID] = identity.Limits{MaxClaimLength: l.MaxClaimLength, MaxGroups: l.MaxGroups,
			MaxAttributes: l.MaxAttributes, MaxAttributeValues: l.MaxAttributeValues, MaxSize: l.MaxSize}
		m, err := mapping.Compile(c.ID, c.ClaimMapping, c.Groups)
		if err != nil {
			return fmt.Errorf("connectors[%d]: %w", i, err)
		}
		if len(c.ClaimMapping) > 0 || len(c.Groups.Allow) > 0 || len(c.Groups.Deny) > 0 || c.Groups.Prefix {
			o.Mappings[c.ID] = m
		}
		if c.LinksByVerifiedEmail(cfg.Linking) {
			o.LinkByEmail = append(o.LinkByEmail, c.ID)
		}
		if c.LinksExplicitly(cfg.Linking) {
			o.LinkExplicit = append(o.LinkExplicit, c.ID)
		}
		if c.Type == "local" {
			if err := selfService(&o.SelfService, c); err != nil {
				return fmt.Errorf("connectors[%d]: %w", i, err)
			}
		}
	}
	ss := cfg.SelfService
	o.SelfService.ResetTTL, o.SelfService.VerifyTTL, o.SelfService.InviteTTL = ss.ResetLinkTTL.Std(), ss.VerifyLinkTTL.Std(), ss.InviteLinkTTL.Std()
	for name, sc := range cfg.Scopes {
		o.Scopes[name] = slices.Clone(sc.Claims)
	}
	return nil
}

// TokenConfig is the token service's configuration for cfg (defaults
// applied): the default algorithm, those clients ask for their id_tokens,
// and the longest token lifetime any client has, so that retired keys stay
// published long enough. The CLI uses it too, so both plan keys alike.
func TokenConfig(cfg *config.Config) tokensvc.Config {
	t := cfg.Tokens
	// RS256 is every OpenID provider's (Core §15.1; Discovery §3: the
	// supported ID token algorithms MUST include it), whatever the
	// default: a client may ask for it.
	extra := []string{"RS256"}
	var longest time.Duration
	for _, c := range cfg.Clients {
		if c.IDTokenSignedResponseAlg != "" {
			extra = append(extra, c.IDTokenSignedResponseAlg)
		}
		longest = max(longest, c.AccessTokenTTL.Std(), c.IDTokenTTL.Std())
	}
	return tokensvc.Config{
		Issuer: cfg.Issuer, SigningAlg: t.SigningAlg, ExtraAlgs: extra, MaxTokenTTL: longest,
		AccessTokenTTL: t.AccessTokenTTL.Std(), IDTokenTTL: t.IDTokenTTL.Std(),
		RefreshIdleTTL: t.RefreshIdleTTL.Std(), RefreshAbsoluteTTL: t.RefreshAbsoluteTTL.Std(),
		KeyRotation: t.KeyRotation.Std(),
		// A session ended before its code is redeemed must stay ended for
		// as long as the code lives.
		PendingSessionTTL: max(10*time.Minute, 2*t.AuthCodeTTL.Std()),
	}
}

// Serve serves the broker on l until ctx ends, keeping signing keys current,
// then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	// A request waiting for a connector gets longer than WriteTimeout:
	// the broker moves its write deadline (broker/deadline.go), knowing
	// the same value (options).
	srv := &http.Server{
		Handler:           s.Broker,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.Config.HTTPWriteTimeout(),
		IdleTimeout:       2 * time.Minute,
		// A Bearer header carries a whole access token: up to 180,000
		// bytes within the identity limits (docs/identity.md).
		MaxHeaderBytes: 256 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.Handler = s.handler()
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.sync(kctx, s.Config.SyncEvery())
	if s.Config.Ops.Listen != "" {
		ol, err := net.Listen("tcp", s.Config.Ops.Listen)
		if err != nil {
			return fmt.Errorf("ops.listen: %w", err)
		}
		osrv := &http.Server{Handler: s.opsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go osrv.Serve(ol)
		defer osrv.Close()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// Close closes the broker, the connectors and the store.
func (s *Server) Close() error {
	s.Broker.Close()
	if s.stopMail != nil {
		s.stopMail() // after the broker: its last forms queue mail
	}
	if s.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.stopTracing(ctx); err != nil {
			s.log.Warn("flush traces", "err", err)
		}
	}
	closeConnectors(s.conns)
	if s.built != nil {
		s.built.mu.Lock()
		closeConnectors(s.built.list)
		s.built.mu.Unlock()
	}
	return s.Store.Close()
}

// Accounts adapts the store to what the local connector needs.
type Accounts struct{ Store store.Store }

func toAccount(a store.LocalAccount) local.Account {
	return local.Account{ID: a.ID, Username: a.Username, Email: a.Email, EmailVerified: a.EmailVerified,
		Name: a.Name, Groups: a.Groups, PasswordHash: a.PasswordHash}
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return local.ErrNoAccount
	}
	return err
}

func (a Accounts) AccountByLogin(ctx context.Context, login string) (local.Account, error) {
	acc, err := a.Store.GetLocalAccountByLogin(ctx, login)
	return toAccount(acc), notFound(err)
}

func (a Accounts) AccountByID(ctx context.Context, id string) (local.Account, error) {
	acc, err := a.Store.GetLocalAccount(ctx, id)
	return toAccount(acc), notFound(err)
}

func (a Accounts) SetPasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	acc, err := a.Store.GetLocalAccount(ctx, id)
	if err != nil {
		return notFound(err)
	}
	if acc.PasswordHash != oldHash {
		return store.ErrConflict
	}
	acc.PasswordHash = newHash
	return a.Store.UpdateLocalAccount(ctx, acc)
}

// seed writes the configured clients (the file is their source of truth:
// each replaces the stored client of that id) and creates configured users
// that do not exist yet (passwords changed since stay changed). Each
// change is an administrator's, audited with the actor "config".
func seed(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) error {
	audit := func(what, key, value string) error {
		to := st
		if slices.Contains(cfg.Audit.Exclude, audit.AdminPrefix+what) {
			to = nil // the log only
		}
		return audit.RecordAdminEvent(ctx, to, log, cfg.Audit.Retention.Std(), "config", what, map[string]string{key: value})
	}
	for i, c := range cfg.Clients {
		rec := store.Client{
			ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs, ExtraScopes: c.ExtraScopes,
			GrantTypes: c.GrantTypes, Scopes: c.Scopes, SecretHash: c.SecretHash,
			PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
			NoIntrospection:        c.Public || c.Introspection == config.IntrospectNone,
			IntrospectAny:          !c.Public && c.Introspection == config.IntrospectAny,
			Consent:                c.Consent,
			TokenFormat:            c.TokenFormat, AccessTokenTTL: c.AccessTokenTTL.Std(), IDTokenTTL: c.IDTokenTTL.Std(),
			RefreshIdleTTL: c.RefreshIdleTTL.Std(), RefreshAbsoluteTTL: c.RefreshAbsoluteTTL.Std(),
			RefreshReuseGrace: c.RefreshReuseGrace.Std(), IDTokenAlg: c.IDTokenSignedResponseAlg,
			Resources: c.Resources, ResourceURIs: c.ResourceURIs,
			// Back-channel logout.
			BackchannelLogoutURI:             c.BackchannelLogoutURI,
			BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
			// Pushed and signed authorization requests (RFC 9126, 9101).
			RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
			RequireSignedRequestObject:         c.RequireSignedRequestObject,
			// DPoP (RFC 9449) and the FAPI 2.0 profile.
			DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, Profile: c.Profile,
		}
		if x := c.TokenExchange; x != nil { // token exchange (RFC 8693)
			rec.TokenExchange = &store.ClientExchange{Issuers: x.Issuers, Delegation: x.Delegation,
				DelegationFrom: x.DelegationFrom, Audiences: x.Audiences}
		}
		old, err := st.GetClient(ctx, c.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
		if c.Secret != "" {
			rec.SecretHash = core.HashClientSecret(c.Secret)
		}
		// JWT client authentication (broker/clientjwt.go); Validate
		// checked the keys and that client_secret_jwt has its secret.
		rec.AuthMethod, rec.JWKSURI = c.TokenEndpointAuthMethod, c.JWKSURI
		if c.JWKS != nil {
			if rec.JWKS, err = json.Marshal(c.JWKS); err != nil {
				return fmt.Errorf("clients[%d].jwks: %w", i, err)
			}
		}
		if c.TokenEndpointAuthMethod == config.AuthSecretJWT {
			rec.JWTSecret = c.Secret
		}
		if err := PutClient(ctx, st, rec); err != nil {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
		// Neither is a setting of the file: PutClient keeps the stored ones.
		rec.Version, old.Version = 0, 0
		rec.CreatedAt, old.CreatedAt = time.Time{}, time.Time{}
		switch {
		case old.ID == "":
			err = audit("client_create", "client_id", c.ID)
		case !reflect.DeepEqual(canonClient(old), canonClient(rec)):
			err = audit("client_update", "client_id", c.ID)
		}
		if err != nil {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
	}
	for i, u := range cfg.Users {
		verified := u.EmailVerified == nil || *u.EmailVerified
		acc := store.LocalAccount{
			ID: admin.NewAccountID(), Username: u.Username, Email: u.Email, EmailVerified: verified,
			Name: u.Name, Groups: u.Groups, PasswordHash: u.PasswordHash, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		}
		if _, err := st.GetLocalAccountByLogin(ctx, u.Username); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
		if err := st.CreateLocalAccount(ctx, acc); err != nil {
			return fmt.Errorf("users[%d] (%s): %w", i, u.Username, err)
		}
		if err := audit("account_create", "username", u.Username); err != nil {
			return fmt.Errorf("users[%d] (%s): %w", i, u.Username, err)
		}
	}
	if err := seedSCIM(ctx, cfg, st, audit); err != nil { // scim.go
		return err
	}
	return declare(ctx, cfg, st, log, audit) // declarative.go
}

// canonClient is c with empty lists nil, as the store returns them.
func canonClient(c store.Client) store.Client {
	for _, l := range []*[]string{&c.RedirectURIs, &c.GrantTypes, &c.Scopes, &c.ExtraScopes, &c.PostLogoutRedirectURIs, &c.Resources, &c.ResourceURIs} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return c
}

// PutClient creates c or replaces the stored client with its id.
func PutClient(ctx context.Context, st store.Store, c store.Client) error {
	for range 5 {
		old, err := st.GetClient(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			// The broker's clock (a test's, in tests), as the codes it
			// issues are dated (protocol: a code older than its client
			// is refused).
			now := time.Now
			if clock := clockFrom(ctx); clock != nil {
				now = clock
			}
			c.CreatedAt = now().UTC()
			err = st.CreateClient(ctx, c)
			if errors.Is(err, store.ErrAlreadyExists) {
				continue
			}
			return err
		} else if err != nil {
			return err
		}
		c.Version, c.CreatedAt = old.Version, old.CreatedAt
		if err := st.UpdateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errors.New("too many concurrent updates")
}
