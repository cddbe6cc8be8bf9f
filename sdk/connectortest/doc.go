// Package connectortest is the conformance kit for connectors: an author
// runs it from their own `go test` and it checks the rules of the
// connector contract (package sdk) that the broker relies on but cannot
// check itself, against the connector's real store:
//
//   - a wrong password and an unknown user are refused alike: the same
//     error, with the same message, so a login form tells a guesser
//     nothing; an empty password, a NUL byte, invalid UTF-8 or 64 KiB of
//     input are refused too, never a panic;
//   - a store that cannot be asked is sdk.ErrUnavailable (503, "try
//     later"), never a wrong password, and the connector recovers when it
//     is back; on refresh it is not sdk.ErrUserGone, which would end the
//     person's sessions;
//   - a cancelled context is honoured: a login returns an error that is
//     not a wrong password (the broker counts those against the account)
//     without spending a password hash on nobody, also when it waits on
//     the store; a refresh is not sdk.ErrUserGone over it;
//   - usernames, display names and groups outside ASCII come back byte
//     for byte;
//   - every identity fits the limits the broker enforces (Limits), with a
//     stable, non-empty Subject;
//   - refresh returns the same person, and sdk.ErrUserGone once the
//     account is removed;
//   - concurrent logins do not interfere (run with -race);
//   - the factory refuses a config block it cannot read (CheckFactory).
//
// Each rule runs in three forms of the same source: in process (the
// factory called directly), as a built process plugin (go build, started
// over go-plugin as the broker does) and as a built WASM module (GOOS=wasip1,
// run with wazero behind the same ABI as the broker's), so a connector
// whose WASM build differs from its native one is caught. The two built
// forms need the go command; without it they are skipped, or fail when
// CI=true.
//
// The kit cannot create accounts or break a store it does not know: the
// author describes both in a Suite (accounts seeded in the store, and
// hooks that make it fail). A store reached over HTTP is the easiest to
// break from a test, and is also what a WASM module can reach
// (sdk/upstream); see the example, and the connector `portico connector
// init` writes, which is tested with this kit.
//
// The kit tests password connectors (sdk.PasswordConnector, and
// sdk.RefreshConnector when implemented). Callback connectors need an
// upstream to log in to; for them the kit offers only CheckIdentity.
package connectortest
