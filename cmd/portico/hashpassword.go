package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/password"
	"github.com/portico-idp/portico/connectors/local"
)

// newHashPassword is `portico hash-password`: an argon2id PHC string for
// users[].password_hash, without an argon2 tool installed. The password
// comes from the terminal without echo (asked twice) or from stdin's first
// line, never from argv. It applies the password policy (the default one,
// or --config's password_policy) as the server does to a password set
// through the admin API: a hash in the file is never checked again.
// --no-policy skips it, for an operator who means to; anyone can hash
// with another argon2 tool anyway.
func newHashPassword() *cobra.Command {
	p := local.DefaultParams
	var threads uint
	var cfgPath string
	var noPolicy bool
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Hash a password with argon2id for users[].password_hash",
		Long: "Reads a password from the terminal (without echo, twice) or the first line of stdin\n" +
			"and prints its argon2id PHC string. The defaults are RFC 9106's second recommended\n" +
			"option, the parameters the server hashes with. The password must meet the password\n" +
			"policy (docs/passwords.md): the default one, or --config's password_policy.",
		Example: "  portico hash-password\n  printf '%s\\n' \"$PASSWORD\" | portico hash-password",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if threads < 1 || threads > 255 {
				return fmt.Errorf("--threads %d outside [1, 255]", threads)
			}
			p.Threads = uint8(threads)
			if err := p.Validate(); err != nil {
				return err
			}
			policy := password.Policy{}
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				policy = cfg.PasswordPolicy.Policy()
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			if err := policy.Check(pw); err != nil && !noPolicy {
				return fmt.Errorf("%w (password_policy; --no-policy hashes it anyway)", err)
			}
			h, err := local.Hash(pw, p)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&p.Memory, "memory", p.Memory, "argon2id memory in KiB (m)")
	f.Uint32Var(&p.Time, "time", p.Time, "argon2id passes (t)")
	f.UintVar(&threads, "threads", uint(p.Threads), "argon2id lanes (p)")
	f.Uint32Var(&p.SaltLen, "salt-len", p.SaltLen, "salt length in bytes")
	f.Uint32Var(&p.KeyLen, "key-len", p.KeyLen, "hash length in bytes")
	f.StringVar(&cfgPath, "config", "", "config file whose password_policy to apply (default: the default policy)")
	f.BoolVar(&noPolicy, "no-policy", false, "hash a password the password policy refuses")
	return cmd
}
