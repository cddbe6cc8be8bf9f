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

		// The free-space floor: bytes, or a number with a unit.
		{name: "min_free_space in MiB", src: issuer + "storage: {dir: d, min_free_space: 96MiB}\n",
			want: Storage{Type: "badger", Dir: "d", MinFreeSpace: 96 << 20}},
		{name: "min_free_space in GB with a space", src: issuer + "storage: {dir: d, min_free_space: \"2 GB\"}\n",
			want: Storage{Type: "badger", Dir: "d", MinFreeSpace: 2e9}},
		{name: "min_free_space in bytes", src: issuer + "storage: {dir: d, min_free_space: 104857600}\n",
			want: Storage{Type: "badger", Dir: "d", MinFreeSpace: 100 << 20}},
		{name: "min_free_space lower-case unit", src: issuer + "storage: {dir: d, min_free_space: 1gib}\n",
			want: Storage{Type: "badger", Dir: "d", MinFreeSpace: 1 << 30}},
		{name: "min_free_space zero", src: issuer + "storage: {dir: d, min_free_space: 0}\n",
			err: `config: storage.min_free_space: must be positive, got "0"`},
		{name: "min_free_space negative", src: issuer + "storage: {dir: d, min_free_space: -1}\n",
			err: `config: storage.min_free_space: invalid size "-1"`},
		{name: "min_free_space unknown unit", src: issuer + "storage: {dir: d, min_free_space: 96MiBs}\n",
			err: `config: storage.min_free_space: invalid size "96MiBs"`},
		{name: "min_free_space fraction", src: issuer + "storage: {dir: d, min_free_space: 1.5GiB}\n",
			err: `config: storage.min_free_space: invalid size "1.5GiB"`},
		{name: "min_free_space overflows", src: issuer + "storage: {dir: d, min_free_space: 99999999999TiB}\n",
			err: `config: storage.min_free_space: size "99999999999TiB" is too large`},
		{name: "min_free_space a list", src: issuer + "storage: {dir: d, min_free_space: [1]}\n",
			err: `config: storage.min_free_space: expected a size such as "100MiB", got a list`},
		{name: "min_free_space with postgres", src: issuer + "storage: {type: postgres, dsn: \"" + fileDSN + "\", min_free_space: 1GiB}\n",
			err: "config: storage.min_free_space: only for the badger storage"},
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

// TestSize: sizes read as the file writes them and print back in the
// largest binary unit that divides them.
func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		str  string
	}{
		{"96MiB", 96 << 20, "96MiB"},
		{"96 MiB", 96 << 20, "96MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1536KiB", 1536 << 10, "1536KiB"},
		{"100MB", 100e6, "100000000"}, // no binary unit divides it
		{"2tb", 2e12, "1953125000KiB"},
		{"4096", 4096, "4KiB"},
		{"7B", 7, "7"},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if got.String() != tc.str {
			t.Errorf("Size(%d).String() = %q, want %q", got, got.String(), tc.str)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5GiB", "12 parsecs", "0x10"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}
