package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store/postgres"
	"github.com/portico-idp/portico/testenv"
)

// pgBrokers starts Portico on PostgreSQL (testenv.PostgresDSN, the server
// the tests use): per signing algorithm and number of replicas, a
// deployment of one broker, or of two replicas of one issuer, on a fresh
// schema of its own. close stops them and drops every schema it created.
type pgBrokers struct {
	bs     *brokers // the Badger brokers: their configuration and directory
	dsn    string   // as given, for the bench's own connections
	appDSN string   // with application_name app: the brokers' and the SELECT 1 pool's
	// app names the bench's connections, so that their backends' CPU can
	// be told from other clients'; the schemas start with it too.
	app string

	monMu   sync.Mutex
	monitor *pgx.Conn // reads pg_stat_activity; set by probe

	mu      sync.Mutex
	running map[string]*pgDeploy // by alg/replicas
	schemas []string             // created or maybe created: dropped by close
	pools   []*pgxpool.Pool      // the SELECT 1 floor's
}

// pgDeploy is one issuer on one schema.
type pgDeploy struct {
	schema  string
	brokers []*testenv.Broker // the replicas; brokers[0] serves the issuer URL
	// targets are the replicas as the load generator addresses them, each
	// at its own address (testenv.Broker.URL is the shared issuer).
	targets []*testenv.Broker
}

func newPGBrokers(bs *brokers) *pgBrokers {
	app := "portico_bench_" + strings.ToLower(rand.Text()[:8])
	return &pgBrokers{bs: bs, dsn: testenv.PostgresDSN(), appDSN: withAppName(testenv.PostgresDSN(), app),
		app: app, running: map[string]*pgDeploy{}}
}

// withAppName sets application_name in dsn, a URL or key=value string (in
// which a later key wins).
func withAppName(dsn, app string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + app
}

// probe connects to the server and describes it; an error means that the
// PostgreSQL scenarios cannot run.
func (pg *pgBrokers) probe(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, cfg, err := pg.connect(ctx)
	if err != nil {
		return "", err
	}
	var version, fsync, syncCommit string
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'),
current_setting('synchronous_commit')`).Scan(&version, &fsync, &syncCommit)
	if err != nil {
		conn.Close(context.Background())
		return "", err
	}
	maxConns := "?"
	if n, err := postgres.PoolSize(pg.appDSN); err == nil {
		maxConns = fmt.Sprint(n) // Portico's default, or the DSN's pool_max_conns
	}
	pg.monMu.Lock()
	pg.monitor = conn
	pg.monMu.Unlock()
	return fmt.Sprintf("PostgreSQL %s at %s:%d/%s, fsync %s, synchronous_commit %s; a broker's pool holds up to %s connections; "+
		"fresh schemas %s_*, dropped at exit", version, cfg.Host, cfg.Port, cfg.Database, fsync, syncCommit, maxConns, pg.app), nil
}

// connect opens a connection of the bench's own on the DSN, which may
// hold pgxpool's parameters (pool_max_conns) as the store's does.
func (pg *pgBrokers) connect(ctx context.Context) (*pgx.Conn, *pgx.ConnConfig, error) {
	pc, err := pgxpool.ParseConfig(pg.dsn)
	if err != nil {
		// pgx's message may hold the password; say only what failed.
		return nil, nil, errors.New("cannot parse the DSN")
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	return conn, pc.ConnConfig, err
}

// get returns the deployment of replicas brokers signing with alg,
// starting it on a fresh schema if needed. The replicas start one after
// the other, so that the second finds the first's signing keys, and share
// a storage.dir, so that they share the key that seals secrets.
func (pg *pgBrokers) get(alg string, replicas int) (*pgDeploy, error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	key := fmt.Sprintf("%s_x%d", strings.ToLower(alg), replicas)
	if d := pg.running[key]; d != nil {
		return d, nil
	}
	d := &pgDeploy{schema: pg.app + "_" + key}
	pg.schemas = append(pg.schemas, d.schema) // before the first broker creates it
	// With postgres the directory holds only the sealing key, and the
	// broker does not create it.
	dir := filepath.Join(pg.bs.root, "pg_"+key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var issuer string
	for i := range replicas {
		b, listen, err := pg.start(alg, d.schema, dir, issuer)
		if err != nil {
			for _, b := range d.brokers {
				b.Stop()
			}
			return nil, fmt.Errorf("start %s postgres replica %d of %d: %w", alg, i+1, replicas, err)
		}
		if i == 0 {
			issuer = b.URL
		}
		d.brokers = append(d.brokers, b)
		d.targets = append(d.targets, &testenv.Broker{URL: "http://" + listen, Server: b.Server, Config: b.Config})
	}
	pg.running[key] = d
	return d, nil
}

// start starts one broker like the Badger ones, on PostgreSQL schema with
// dir for its key file, serving issuer (its own address if empty), and
// returns it and its address.
func (pg *pgBrokers) start(alg, schema, dir, issuer string) (*testenv.Broker, string, error) {
	cfg, err := pg.bs.config(alg)
	if err != nil {
		return nil, "", err
	}
	cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: pg.appDSN, Schema: schema, Dir: dir}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	cfg.Listen = l.Addr().String()
	cfg.Issuer = issuer
	if issuer == "" {
		cfg.Issuer = "http://" + cfg.Listen
	}
	b, err := testenv.StartOn(l, cfg, pg.bs.log)
	if err != nil {
		l.Close()
		return nil, "", err
	}
	return b, cfg.Listen, nil
}

// selectOp runs SELECT 1 on a pool of its own, as large as a broker's:
// one round trip to the server, the least a store call costs.
func (pg *pgBrokers) selectOp(ctx context.Context) (op, error) {
	cfg, err := pgxpool.ParseConfig(pg.appDSN)
	if err != nil {
		return nil, errors.New("SELECT 1 pool: cannot parse the DSN")
	}
	if cfg.MaxConns, err = postgres.PoolSize(pg.appDSN); err != nil {
		return nil, err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("SELECT 1 pool: %w", err)
	}
	pg.mu.Lock()
	pg.pools = append(pg.pools, p)
	pg.mu.Unlock()
	return func(ctx context.Context, _ int) error {
		var n int
		if err := p.QueryRow(ctx, `SELECT 1`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("SELECT 1 returned %d", n)
		}
		return nil
	}, nil
}

// backendTicks returns the CPU ticks used so far by each PostgreSQL
// backend serving the bench's connections (application_name app), by pid;
// nil if none can be read, as with a server on another machine.
func (pg *pgBrokers) backendTicks() map[int]uint64 {
	pg.monMu.Lock()
	defer pg.monMu.Unlock()
	if pg.monitor == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := pg.monitor.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, pg.app)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	m := map[int]uint64{}
	for _, pid := range pids {
		if t, ok := procTicks(int(pid)); ok {
			m[int(pid)] = t
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// close stops every broker, closes the pools and drops every schema the
// bench created. It runs on errors and interrupts too (a deferred call),
// with a context of its own.
func (pg *pgBrokers) close() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	var errs []error
	for key, d := range pg.running {
		for i, b := range d.brokers {
			if err := b.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop postgres %s replica %d: %w", key, i+1, err))
			}
		}
	}
	pg.running = nil
	for _, p := range pg.pools {
		p.Close()
	}
	pg.pools = nil
	pg.monMu.Lock()
	if pg.monitor != nil {
		pg.monitor.Close(context.Background())
		pg.monitor = nil
	}
	pg.monMu.Unlock()
	if len(pg.schemas) == 0 {
		return errors.Join(errs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := pg.connect(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("drop schemas %s: %w", strings.Join(pg.schemas, ", "), err))
		return errors.Join(errs...)
	}
	defer conn.Close(context.Background())
	for _, s := range pg.schemas {
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{s}.Sanitize()+` CASCADE`); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
		}
	}
	pg.schemas = nil
	return errors.Join(errs...)
}
