package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/spf13/cobra"
)

// sigSuffix is added to a file's path for its signature, where the
// broker looks for it (plugins/internal/signing.Suffix).
const sigSuffix = ".minisig"

// newConnectorKeygen is `portico connector keygen NAME`: a publisher key
// pair for signing connector plugins and modules, in minisign's format.
func newConnectorKeygen() *cobra.Command {
	var dir string
	var encrypt bool
	cmd := &cobra.Command{
		Use:   "keygen NAME",
		Short: "Make a publisher key pair for signing connector plugins and modules",
		Long: "Writes NAME.pub (the public key, for publisher_keys) and NAME.key (the private key,\n" +
			"mode 0600) in minisign's format. With --encrypt the private key is encrypted with a\n" +
			"password read from the terminal or stdin's first line (minisign's scrypt: seconds, 1 GiB).",
		Example: "  portico connector keygen acme\n  portico connector keygen --encrypt --dir ~/.portico acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pubPath, keyPath := filepath.Join(dir, args[0]+".pub"), filepath.Join(dir, args[0]+".key")
			for _, p := range []string{pubPath, keyPath} {
				if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%s exists: not overwriting a key", p)
				}
			}
			password := ""
			if encrypt {
				var err error
				if password, err = readPassword(cmd); err != nil {
					return err
				}
			}
			pub, priv, err := generateKey(password)
			if err != nil {
				return err
			}
			// O_EXCL: a key appearing meanwhile is not overwritten either.
			f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(priv); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
				return err
			}
			lines := strings.Split(strings.TrimSpace(string(pub)), "\n")
			out := cmd.OutOrStdout()
			note := "keep it secret"
			if !encrypt {
				note += "; it is not encrypted"
			}
			fmt.Fprintf(out, "private key: %s (%s)\npublic key:  %s\n\n", keyPath, note, pubPath)
			fmt.Fprintf(out, "In a plugin or wasm connector's config:\n  publisher_keys: [%s]\n", lines[len(lines)-1])
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write the key files in")
	cmd.Flags().BoolVar(&encrypt, "encrypt", false, "encrypt the private key with a password")
	return cmd
}

// newConnectorSign is `portico connector sign --key KEY FILE...`: a
// detached minisign signature of each plugin binary or module, as
// FILE.minisig, which the broker verifies when the connector's config has
// publisher keys.
func newConnectorSign() *cobra.Command {
	var keyPath string
	cmd := &cobra.Command{
		Use:   "sign --key NAME.key FILE...",
		Short: "Sign connector plugins and modules (FILE.minisig)",
		Long: "Writes FILE.minisig next to each FILE, a minisign signature (prehashed, as minisign -S\n" +
			"makes) with the file's name and the time in its trusted comment. The minisign tool\n" +
			"verifies it too: minisign -Vm FILE -p NAME.pub. An encrypted key's password is read\n" +
			"from the terminal or stdin's first line.",
		Example: "  portico connector sign --key acme.key bin/plugins/fileusers bin/plugins/fileusers.wasm",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if keyPath == "" {
				return errors.New("--key is required (portico connector keygen makes one)")
			}
			b, err := os.ReadFile(keyPath)
			if err != nil {
				return err
			}
			password := ""
			if minisign.IsEncrypted(b) {
				if password, err = readPassword(cmd); err != nil {
					return err
				}
			}
			sk, err := readPrivateKey(keyPath, b, password)
			if err != nil {
				return fmt.Errorf("%s: %w", keyPath, err)
			}
			for _, f := range files {
				sig, err := signFile(sk, f)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: signed with key %X\n", sig, sk.ID())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the private key (portico connector keygen)")
	return cmd
}

// generateKey makes a key pair: the public key as a .pub file holds it,
// the private key as a .key file does, encrypted with password (minisign's
// scrypt) unless password is empty.
func generateKey(password string) (pub, priv []byte, err error) {
	pk, sk, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pub, _ = pk.MarshalText()
	if password == "" {
		priv, err = sk.MarshalText()
	} else {
		priv, err = minisign.EncryptKey(password, sk)
	}
	return append(pub, '\n'), append(priv, '\n'), err
}

// readPrivateKey decodes the private key file b read from path.
func readPrivateKey(path string, b []byte, password string) (minisign.PrivateKey, error) {
	if minisign.IsEncrypted(b) {
		sk, err := minisign.DecryptKey(password, b)
		if err != nil {
			return sk, fmt.Errorf("cannot decrypt it (a wrong password?): %w", err)
		}
		return sk, nil
	}
	var sk minisign.PrivateKey
	if err := sk.UnmarshalText(b); err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("not a minisign private key: %w", err)
	}
	return sk, nil
}

// signFile writes the signature of the file at path to path.minisig, as
// minisign -S does: the file is hashed (BLAKE2b-512) and the hash
// signed, and the trusted comment names the file and the time.
func signFile(sk minisign.PrivateKey, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := minisign.NewReader(f)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	trusted := "timestamp:" + strconv.FormatInt(time.Now().Unix(), 10) + "\tfile:" + filepath.Base(path) + "\thashed"
	sig := r.SignWithComments(sk, trusted, fmt.Sprintf("signature from portico connector sign, key %X", sk.ID()))
	sigPath := path + sigSuffix
	tmp := sigPath + ".tmp"
	if err := os.WriteFile(tmp, append(sig, '\n'), 0o644); err != nil {
		return "", err
	}
	return sigPath, os.Rename(tmp, sigPath)
}
