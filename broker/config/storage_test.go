package config

import (
	"strings"
	"testing"
)

// TestStorage: the postgres storage's fields, the DSN from the environment
// when the file has none, and errors by path that never quote the DSN (it
// may hold a password).
func TestStorage(t *testing.T) {
	const (
		issuer   = "issuer: https://id.example.com\n"
		password = "Pg-Pa55word-Never-Shown"
		fileDSN  = "postgres://portico:" + password + "@db.example.com:5432/portico?sslmode=verify-full"
		envDSN   = "postgres://portico:" + password + "@env.example.com/portico"
	)
	tests := []struct {
		name string
		env  string // $PORTICO_STORAGE_DSN
		src  string
		want Storage // on success: the fields checked (SyncWrites aside)
		err  string  // else the error must contain this
	}{
		{name: "badger is the default", src: issuer + "storage: {dir: d}\n",
			want: Storage{Type: "badger", Dir: "d"}},
		{name: "badger ignores the environment", env: envDSN, src: issuer + "storage: {dir: d}\n",
			want: Storage{Type: "badger", Dir: "d"}},
		{name: "postgres", src: issuer + "storage: {type: postgres, dsn: \"" + fileDSN + "\", schema: portico}\n",
			want: Storage{Type: "postgres", DSN: fileDSN, Schema: "portico"}},
		{name: "postgres key=value DSN", src: issuer + "storage: {type: postgres, dsn: \"host=db user=portico password=" + password + "\"}\n",
			want: Storage{Type: "postgres", DSN: "host=db user=portico password=" + password}},
		{name: "postgres with a key directory", src: issuer + "storage: {type: postgres, dsn: \"" + fileDSN + "\", dir: /etc/portico}\n",
			want: Storage{Type: "postgres", DSN: fileDSN, Dir: "/etc/portico"}},
		{name: "DSN from the environment", env: envDSN, src: issuer + "storage: {type: postgres}\n",
			want: Storage{Type: "postgres", DSN: envDSN}},
		{name: "the file wins over the environment", env: envDSN, src: issuer + "storage: {type: postgres, dsn: \"" + fileDSN + "\"}\n",
			want: Storage{Type: "postgres", DSN: fileDSN}},

		{name: "postgres without DSN", src: issuer + "storage: {type: postgres}\n",
			err: "config: storage.dsn: required for postgres (or set $PORTICO_STORAGE_DSN)"},
		{name: "postgres bad URL", src: issuer + "storage: {type: postgres, dsn: \"postgres://portico:" + password + "@db:port/x\"}\n",
			err: "config: storage.dsn: not a valid postgres:// URL"},
		{name: "postgres DSN of the wrong type", src: issuer + "storage: {type: postgres, dsn: [a]}\n",
			err: "config: storage.dsn: expected a string, got a list"},
		{name: "postgres long schema", src: issuer + "storage: {type: postgres, dsn: \"" + fileDSN + "\", schema: " + strings.Repeat("s", 64) + "}\n",
			err: "config: storage.schema: longer than PostgreSQL's 63 bytes"},
		{name: "postgres misspelt field", src: issuer + "storage: {type: postgres, dns: \"" + fileDSN + "\"}\n",
			err: "config: storage.dns: unknown field (did you mean dsn?)"},
		{name: "badger with a DSN", src: issuer + "storage: {dir: d, dsn: \"" + fileDSN + "\"}\n",
			err: "config: storage.dsn: only for the postgres storage"},
		{name: "badger with a schema", src: issuer + "storage: {dir: d, schema: portico}\n",
			err: "config: storage.schema: only for the postgres storage"},
		{name: "badger without dir", env: envDSN, src: issuer,
			err: "config: storage.dir: required for the badger storage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvStorageDSN, tc.env)
			cfg, err := Parse([]byte(tc.src))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error; want %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.err)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("error quotes the DSN's password:\n%v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Storage
			got.SyncWrites = nil
			if got != tc.want {
				t.Errorf("storage = %+v, want %+v", got, tc.want)
			}
		})
	}
}
