package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/password"
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

// checkPolicy applies the password policy to a password (not an imported
// hash: a hash cannot be checked). A refusal is 400 weak_password, with
// the rule broken in violation; it reports whether pw may be set.
func (api *API) checkPolicy(c *gin.Context, pw string, inputs ...string) bool {
	if pw == "" {
		return true // an imported hash, or refused before as missing
	}
	err := api.opts.Passwords.Check(pw, inputs...)
	if err == nil {
		return true
	}
	code := "refused" // a policy that is not broker/password's
	if v, ok := errors.AsType[*password.Violation](err); ok {
		code = v.Code
	}
	c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "weak_password", "error_description": err.Error(), "violation": code})
	return false
}
