package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Secrets from files (issue 19). Every secret field has a *_file twin
// naming a file that holds the value, as Kubernetes mounts a Secret: the
// file is read once, at start (by Parse), one trailing newline is
// trimmed, and it must be a regular file of at most MaxSecretFile bytes.
// A field and its _file twin are exclusive. Relative paths are relative
// to the working directory, like every other path in the file. Errors
// name the field and the file, never what the file holds.

// MaxSecretFile bounds a secret file.
const MaxSecretFile = 64 << 10

// ConnectorSecretFields are the secret fields of the built-in connectors'
// config blocks, by connector type: each may be given as NAME_file
// instead. (SAML's private key is already a file: key_file.)
var ConnectorSecretFields = map[string][]string{
	"ldap":      {"bind_password"},
	"oidc":      {"client_secret"},
	"google":    {"client_secret"},
	"microsoft": {"client_secret"},
	"github":    {"client_secret"},
}

// ReadSecretFile reads a secret from path, as the *_file fields do.
func ReadSecretFile(path string) (string, error) {
	// Checked before opening too: opening a FIFO blocks.
	if fi, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	// Not a FIFO or a device: reading one could block the start forever
	// or never end.
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	if len(b) > MaxSecretFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, MaxSecretFile)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("%s is empty", path)
	}
	return string(b), nil
}

// unwrapPath drops the *PathError's own copy of the path.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// readSecretFiles fills every secret from its _file twin. It runs after
// decoding and before defaults, so that an empty storage.dsn with a
// dsn_file does not take $PORTICO_STORAGE_DSN.
func (c *Config) readSecretFiles() []error {
	var v validator
	one := func(path, name string, value *string, file string) {
		if file == "" {
			return
		}
		if *value != "" {
			v.add(path, "set %s or %s_file, not both", name, name)
			return
		}
		s, err := ReadSecretFile(file)
		if err != nil {
			v.add(join(path, name+"_file"), "%v", err)
			return
		}
		*value = s
	}
	one("storage", "dsn", &c.Storage.DSN, c.Storage.DSNFile)
	one("login.mfa", "key", &c.Login.MFA.Key, c.Login.MFA.KeyFile)
	one("mail.smtp", "password", &c.Mail.SMTP.Password, c.Mail.SMTP.PasswordFile)
	for i := range c.Clients {
		cl := &c.Clients[i]
		one(fmt.Sprintf("clients[%d]", i), "secret", &cl.Secret, cl.SecretFile)
	}
	for i := range c.Users {
		u := &c.Users[i]
		one(fmt.Sprintf("users[%d]", i), "password_hash", &u.PasswordHash, u.PasswordHashFile)
	}
	for i := range c.SCIM.Provisioners {
		p := &c.SCIM.Provisioners[i]
		if p.TokenFile != "" && p.TokenHash != "" {
			v.add(fmt.Sprintf("scim.provisioners[%d]", i), "set only one of token, token_file and token_hash")
			continue
		}
		one(fmt.Sprintf("scim.provisioners[%d]", i), "token", &p.Token, p.TokenFile)
	}
	for i, f := range c.Registration.InitialAccessTokenFiles {
		s, err := ReadSecretFile(f)
		if err != nil {
			v.add(fmt.Sprintf("registration.initial_access_token_files[%d]", i), "%v", err)
			continue
		}
		c.Registration.InitialAccessTokens = append(c.Registration.InitialAccessTokens, s)
	}
	for i := range c.Connectors {
		c.Connectors[i].readSecretFiles(&v, fmt.Sprintf("connectors[%d].config", i))
	}
	return v.errs
}

// readSecretFiles replaces NAME_file with NAME in the connector's config
// for each of its type's secret fields.
func (cn *Connector) readSecretFiles(v *validator, path string) {
	names := ConnectorSecretFields[cn.Type]
	if cn.Config == nil || len(names) == 0 {
		return
	}
	keys := make([]string, 0, len(cn.Config))
	for k := range cn.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys) // errors in a stable order
	for _, k := range keys {
		name, ok := strings.CutSuffix(k, "_file")
		if !ok || !contains(names, name) {
			continue
		}
		file, ok := cn.Config[k].(string)
		if !ok || file == "" {
			v.add(join(path, k), "expected a file name")
			continue
		}
		if cur, set := cn.Config[name]; set && cur != nil && cur != "" {
			v.add(path, "set %s or %s, not both", name, k)
			continue
		}
		s, err := ReadSecretFile(file)
		if err != nil {
			v.add(join(path, k), "%v", err)
			continue
		}
		delete(cn.Config, k)
		cn.Config[name] = s
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
