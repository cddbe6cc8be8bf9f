// Package browser drives a real, headless Chromium for end-to-end tests of
// Portico's pages: the login form, the consent and error pages, passkeys.
//
// # Why a real browser
//
// The HTTP-level tests in testenv (a cookie jar and an HTML form parser)
// prove the protocol. They cannot prove what only a browser does: that the
// page's scripts run under its Content-Security-Policy, that cookies with
// their SameSite and Secure attributes survive the redirects, that the
// WebAuthn ceremony works with navigator.credentials, and that a person
// with a screen reader can use the page. This package gives a test one
// Chromium per Browser, through the DevTools protocol
// (github.com/chromedp/chromedp), with helpers sized for login pages.
//
// # Lifecycle
//
// New starts Debian's Chromium (/usr/bin/chromium, or the path in
// PORTICO_CHROMIUM) headless, with a fresh profile in t.TempDir(), and stops
// it when the test ends. Each Browser is its own process and profile, so its
// own cookie jar: two Browsers model two people, or one person on two
// devices. Without Chromium the test is skipped with the reason, unless the
// environment has CI=true: there it fails, so that CI cannot pass by running
// no browser test. `make deps` and .ci/run install the Debian package.
//
// # Actions
//
// Every action takes a context first and returns an error that names the
// action, the selector and the page it was on. Each action also gives up
// after the Browser's timeout (DefaultTimeout unless SetTimeout changes it),
// so a broken page fails the test with a message instead of hanging it.
// Selectors are CSS selectors; FillLabel finds an input by its label text
// instead. Run runs any other chromedp action under the same timeout.
//
// The address of the redirect back to a relying party is what a login test
// wants to read: WaitURL waits for it and returns it with its query. It
// sees every URL the main frame loaded or was redirected through since the
// last Navigate, so it also catches a redirect_uri that nobody serves (the
// browser then shows an error page) or whose handler redirects again.
//
// # WebAuthn
//
// AddAuthenticator adds a virtual CTAP2 platform authenticator (resident
// keys, user verification that always succeeds, presence simulated) to the
// tab, through the DevTools WebAuthn domain; Credentials lists what it
// holds, with sign counts. WebAuthn needs a secure context and an RP ID that
// is a domain. Verified with Chromium 156: http://localhost:PORT works, with
// the RP ID "localhost" or none. http://127.0.0.1:PORT is a secure context
// too, but navigator.credentials.create rejects it with "SecurityError:
// This is an invalid domain", with the RP ID "127.0.0.1" or none, because
// an IP address is never a valid RP ID. So serve on 127.0.0.1 as usual, but
// point the browser (and Portico's issuer and WebAuthn RP ID) at localhost:
// Localhost rewrites a URL's host. Chromium resolves localhost to the
// loopback address itself.
//
// # Accessibility
//
// A11y runs axe-core (https://github.com/dequelabs/axe-core) inside the page
// and returns its violations; CheckA11y fails the test for the serious and
// critical ones. axe-core comes from npm, installed by `make deps` into
// testenv/browser/node (or set PORTICO_AXE_JS to an axe.min.js). The script
// is evaluated through DevTools, which the page's Content-Security-Policy
// does not restrict, so pages are checked with their real CSP. Without
// axe-core CheckA11y skips, or fails under CI=true.
//
// # Screenshots
//
// Screenshot saves a full-page PNG in the test's artifacts directory:
// PORTICO_ARTIFACTS/<test name>/ if that variable is set (CI keeps it),
// otherwise a t.TempDir() that is removed after the test. With
// PORTICO_ARTIFACTS set, a failing test also leaves failure.png there.
// Copy keeps one elsewhere, such as under docs/screenshots/.
//
// # Cost
//
// Measured here (Chromium 156, 2 cores): a Browser starts in about 0.5 s
// and takes about 350 MB (PSS, all its processes) with a simple page. Keep
// to one or two at a time, and no t.Parallel. A Browser is for one test,
// or its subtests run one at a time: it has one tab, and its actions must
// not run concurrently.
//
// Debian's /usr/bin/chromium is a wrapper script that adds its own
// switches (from /etc/chromium.d) to the ones New passes.
package browser
