package admin

import (
	"strings"

	"github.com/portico-idp/portico/connectors/local"
)

// Imported password hashes through the admin API (issue #19): an account
// may be created, or its password set, with password_hash instead of
// password, so that users brought over from another system (bcrypt from
// Dex, PBKDF2 from Keycloak, scrypt, or argon2id) keep their passwords.
// The hash must parse within the local connector's cost bounds; a foreign
// one is replaced by argon2id at the account's next login.

// checkPasswordInput is the rule for a body carrying password or
// password_hash: exactly one of them.
func checkPasswordInput(password, hash string) string {
	switch {
	case password != "" && hash != "":
		return "give password or password_hash, not both"
	case hash == "":
		return checkPassword(password)
	}
	if err := local.CheckHash(hash); err != nil {
		return "password_hash: " + strings.TrimPrefix(err.Error(), "local: ")
	}
	return ""
}

// storedHash is what to store for a checked input: the imported hash as
// given, or a new hash of the password.
func (api *API) storedHash(password, hash string) (string, error) {
	if hash != "" {
		return hash, nil
	}
	return api.hashPassword(password)
}

// hashDetail names the algorithm of an imported hash for the audit
// event: never the hash itself.
func hashDetail(d map[string]string, hash string) map[string]string {
	if hash != "" {
		d["imported_hash"] = local.Algorithm(hash)
	}
	return d
}
