//go:build tools

package portico

import (
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/gin-gonic/gin"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/goccy/go-yaml"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/term"
)
