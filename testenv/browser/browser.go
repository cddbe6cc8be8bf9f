package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const (
	// DefaultTimeout bounds each action of a Browser; see SetTimeout.
	DefaultTimeout = 15 * time.Second

	// DefaultPath is Debian's Chromium; PORTICO_CHROMIUM overrides it.
	DefaultPath = "/usr/bin/chromium"

	// startTimeout bounds Chromium's start, usually about 0.5 s.
	startTimeout = 30 * time.Second
	// closeTimeout bounds a graceful close before the process is killed.
	closeTimeout = 5 * time.Second
	// outputLimit caps how much of Chromium's own log is kept for errors.
	outputLimit = 64 << 10
)

// flags are Chromium's switches, all booleans, besides --user-data-dir.
// chromedp adds --remote-debugging-pipe (its connection) and about:blank.
// No-sandbox: tests run as root in containers, where the sandbox cannot
// start. No QUIC, background networking, component updates or sync: a test
// talks to its own loopback servers and nothing else.
var flags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-dev-shm-usage",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
}

// Browser is one headless Chromium with one tab. Its methods must be called
// from one goroutine at a time.
type Browser struct {
	t       testing.TB
	tab     context.Context // the chromedp context of the tab
	frame   cdp.FrameID     // the tab's main frame
	dir     string          // artifacts
	timeout time.Duration
	output  *capped // Chromium's stderr and stdout

	webauthnOn bool

	mu     sync.Mutex // guards visits and mark, written by the tab's event loop
	visits []string   // every main-frame URL loaded or redirected through
	mark   int        // visits[mark:] happened since the last Navigate
}

// New starts a headless Chromium with a fresh profile and closes it when
// the test ends. Without Chromium the test is skipped, or fails if
// CI=true.
func New(t testing.TB) *Browser {
	t.Helper()
	exe := os.Getenv("PORTICO_CHROMIUM")
	if exe == "" {
		exe = DefaultPath
	}
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		require(t, "BROWSER TESTS NOT RUN: no Chromium at "+exe+
			". Install the Debian package chromium (`make deps`) or set PORTICO_CHROMIUM.")
	}
	// The profile is a subdirectory so that it can be removed, with
	// retries, before t.TempDir's own cleanup: Chromium's helper processes
	// can still write there for a moment after the browser exits.
	profile := filepath.Join(t.TempDir(), "profile")
	b := &Browser{t: t, dir: artifactsDir(t), timeout: DefaultTimeout, output: &capped{}}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(b.output),
	}
	for _, f := range flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	b.tab = tab
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("PORTICO_ARTIFACTS") != "" {
			b.failureShot()
		}
		ctx, cancel := context.WithTimeout(tab, closeTimeout)
		chromedp.Cancel(ctx) // graceful; the process is killed after closeTimeout
		cancel()
		cancelTab()
		cancelAlloc() // waits until the process has exited
		removeAll(profile)
	})

	// The first action starts the browser and ties its life to the context
	// it gets, so it gets the tab's, not one with a deadline; a timer
	// bounds the start instead.
	timer := time.AfterFunc(startTimeout, cancelAlloc)
	err := chromedp.Do(tab)
	timer.Stop()
	if err != nil {
		t.Fatalf("browser: starting %s: %v\nChromium's output:\n%s", exe, err, b.output)
	}
	b.frame = cdp.FrameID(chromedp.FromContext(tab).Target.TargetID)
	if err := chromedp.Listen(tab, b.record); err != nil {
		t.Fatalf("browser: listening to the tab: %v", err)
	}
	return b
}

// require skips the test with msg, or fails it under CI=true.
func require(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " CI=true: running without it is a failure.")
	}
	t.Skip(msg)
}

// SetTimeout sets how long each later action may take before it fails;
// d <= 0 restores DefaultTimeout. A context deadline shorter than it wins.
func (b *Browser) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	b.timeout = d
}

// Navigate loads url and waits for its load event. The URLs that WaitURL
// and Visited consider start again here. An error page (a redirect to a
// port nobody listens on, for one) is an error, but URL and WaitURL still
// report the address it was for.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	b.mu.Lock()
	b.mark = len(b.visits)
	b.mu.Unlock()
	_, err := run(ctx, b, "navigate to "+url, chromedp.Navigate(url))
	return err
}

// WaitVisible waits until an element matching the CSS selector sel is
// visible.
func (b *Browser) WaitVisible(ctx context.Context, sel string) error {
	_, err := run(ctx, b, fmt.Sprintf("wait for %q to be visible", sel), chromedp.WaitVisible(chromedp.CSS(sel)))
	return err
}

// Fill waits for the input matching the CSS selector sel to be visible,
// clears it and types value into it, key by key, as a person would (so
// "\n" presses Enter). Errors never contain value: it may be a password.
func (b *Browser) Fill(ctx context.Context, sel, value string) error {
	return fill(ctx, b, fmt.Sprintf("fill %q", sel), chromedp.CSS(sel), value)
}

// FillLabel is Fill for the input whose <label> text, or aria-label, is
// label, compared after trimming and collapsing white space. It checks
// what a screen reader announces, besides filling the field.
func (b *Browser) FillLabel(ctx context.Context, label, value string) error {
	return fill(ctx, b, fmt.Sprintf("fill the field labelled %q", label), chromedp.JSPath(labelJS(label)), value)
}

func fill[S chromedp.Selectable](ctx context.Context, b *Browser, what string, sel S, value string) error {
	_, err := run(ctx, b, what, chromedp.Steps(
		chromedp.Query(sel, chromedp.NodeVisible, chromedp.After(empty)),
		chromedp.SendKeys(sel, value, chromedp.NodeVisible),
	))
	return err
}

// empty empties the first node's value, with the input event a page may
// listen to. Not chromedp.SetValue(sel, ""): chromedp v0.23.0 drops an
// empty string argument (JSON v2's omitempty), so the field would read
// "undefined".
func empty(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) error {
	obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: nodes[0].NodeID})
	if err != nil {
		return err
	}
	defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
	res, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		ObjectID: obj.Object.ObjectID,
		FunctionDeclaration: `function() {
			if (!("value" in this)) throw new Error("not an input: <" + this.localName + ">");
			this.value = "";
			this.dispatchEvent(new Event("input", {bubbles: true}));
		}`,
	})
	if err == nil && res.ExceptionDetails != nil {
		err = &chromedp.ExceptionError{ExceptionDetails: res.ExceptionDetails}
	}
	return err
}

// labelJS is an expression for the form control labelled label, or null
// (so that the query waits for it).
func labelJS(label string) string {
	return fmt.Sprintf(`(() => {
	const want = %s, norm = s => (s || "").replace(/\s+/g, " ").trim();
	for (const l of document.querySelectorAll("label"))
		if (l.control && norm(l.textContent) === want) return l.control;
	for (const e of document.querySelectorAll("input, textarea, select"))
		if (norm(e.getAttribute("aria-label")) === want) return e;
	return null;
})()`, jsString(label))
}

// Click waits for the element matching the CSS selector sel to be visible
// and clicks its center. It does not wait for a navigation the click
// starts: follow it with WaitURL or WaitVisible.
func (b *Browser) Click(ctx context.Context, sel string) error {
	_, err := run(ctx, b, fmt.Sprintf("click %q", sel), chromedp.Click(chromedp.CSS(sel)))
	return err
}

// Text waits for an element matching the CSS selector sel and returns its
// rendered text (innerText).
func (b *Browser) Text(ctx context.Context, sel string) (string, error) {
	return run(ctx, b, fmt.Sprintf("read the text of %q", sel), chromedp.Text(chromedp.CSS(sel)))
}

// URL returns the address of the page the tab shows, query and fragment
// included. For an error page it is the address that failed to load, not
// Chromium's chrome-error:// page.
func (b *Browser) URL(ctx context.Context) (string, error) {
	return run(ctx, b, "read the URL", current)
}

// current is the tab's current navigation entry's URL and title.
func current(ctx context.Context, t *chromedp.Target) (string, error) {
	u, _, err := entry(ctx, t)
	return u, err
}

func entry(ctx context.Context, t *chromedp.Target) (u, title string, err error) {
	for {
		h, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
		switch {
		case err == nil && (h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries)):
			return "", "", errors.New("no current navigation entry")
		case err == nil:
			e := h.Entries[h.CurrentIndex]
			return e.URL, e.Title, nil
		case !detached(err):
			return "", "", err
		}
		select {
		case <-ctx.Done():
			return "", "", err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// detached reports the error of a command sent while the tab is between
// two renderer processes, for a moment after a navigation to an error
// page for one: worth trying again.
func detached(err error) bool {
	var e *cdproto.Error
	return errors.As(err, &e) && e.Message == "Not attached to an active page"
}

// WaitURL waits until the main frame has loaded, or been redirected
// through, a URL starting with prefix since the last Navigate, and returns
// the latest such URL with its query: where the authorization server sent
// the browser back to the relying party's redirect_uri, say. It works
// whether or not anything serves that URL, and if its handler redirects
// again.
func (b *Browser) WaitURL(ctx context.Context, prefix string) (string, error) {
	u, err := run(ctx, b, fmt.Sprintf("wait for a URL starting with %q", prefix),
		func(ctx context.Context, t *chromedp.Target) (string, error) {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				if u, ok := b.visited(prefix); ok {
					return u, nil
				}
				// Back/forward from the cache requests nothing.
				if u, err := current(ctx, t); err == nil && strings.HasPrefix(u, prefix) {
					return u, nil
				}
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-tick.C:
				}
			}
		})
	if err != nil {
		return "", fmt.Errorf("%w; URLs since the last Navigate: %s", err, strings.Join(b.Visited(), " -> "))
	}
	return u, nil
}

// Visited returns the URLs the main frame has loaded or been redirected
// through since the last Navigate, in order, starting with Navigate's own.
func (b *Browser) Visited() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.visits[b.mark:]...)
}

func (b *Browser) visited(prefix string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.visits) - 1; i >= b.mark; i-- {
		if strings.HasPrefix(b.visits[i], prefix) {
			return b.visits[i], true
		}
	}
	return "", false
}

// record runs in the tab's event loop (see chromedp.Listen): it must be
// quick and send no command. Each hop of a redirect is its own
// requestWillBeSent; history.pushState and fragment changes request
// nothing, so they come from navigatedWithinDocument.
func (b *Browser) record(ev any) {
	var u string
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Type != network.ResourceTypeDocument || ev.FrameID != b.frame || ev.Request == nil {
			return
		}
		u = ev.Request.URL + ev.Request.URLFragment
	case *page.EventNavigatedWithinDocument:
		if ev.FrameID != b.frame {
			return
		}
		u = ev.URL
	default:
		return
	}
	b.mu.Lock()
	b.visits = append(b.visits, u)
	b.mu.Unlock()
}

// Run runs any chromedp action in the Browser's tab under its timeout, for
// what the methods do not cover:
//
//	title, err := browser.Run(ctx, b, chromedp.Title())
func Run[T any](ctx context.Context, b *Browser, a chromedp.Action[T]) (T, error) {
	return run(ctx, b, "run an action", a)
}

// run runs a in the tab until it ends, ctx is done or the Browser's timeout
// passes, and describes a failure with what and the page it happened on.
func run[T any](ctx context.Context, b *Browser, what string, a chromedp.Action[T]) (T, error) {
	// Actions need the tab's context (it carries the tab), bounded by the
	// caller's: a child of the tab's context, canceled with ctx.
	actx, cancel := context.WithTimeout(b.tab, b.timeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	v, err := chromedp.Run(actx, a)
	if err == nil {
		return v, nil
	}
	at := b.where()
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return v, fmt.Errorf("browser: %s: gave up after %v on %s: %w", what, b.timeout, at, context.DeadlineExceeded)
	case b.tab.Err() != nil:
		err = fmt.Errorf("%w (Chromium is gone; its output:\n%s)", err, b.output)
	}
	return v, fmt.Errorf("browser: %s on %s: %w", what, at, err)
}

// where describes the page the tab shows, for error messages.
func (b *Browser) where() string {
	ctx, cancel := context.WithTimeout(b.tab, 2*time.Second)
	defer cancel()
	u, title, err := entry(ctx, chromedp.FromContext(b.tab).Target)
	switch {
	case err != nil:
		return "an unknown page (" + err.Error() + ")"
	case title != "" && title != u:
		return fmt.Sprintf("%s (title %q)", u, title)
	}
	return u
}

// Localhost returns rawURL with an IP loopback host (127.0.0.1, [::1])
// replaced by localhost, port kept: WebAuthn refuses IP addresses, and
// Chromium counts http://localhost as a secure context.
func Localhost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return rawURL
	}
	if p := u.Port(); p != "" {
		u.Host = "localhost:" + p
	} else {
		u.Host = "localhost"
	}
	return u.String()
}

// jsString quotes s as a JavaScript string literal (JSON is a subset).
func jsString(s string) string {
	q, _ := json.Marshal(s) // a string always marshals
	return string(q)
}

// removeAll removes dir, retrying for a few seconds while Chromium's
// leftover helpers finish writing into it.
func removeAll(dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for os.RemoveAll(dir) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// capped keeps the first outputLimit bytes written to it.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := outputLimit - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Value waits for the form control matching the CSS selector sel and
// returns its value.
func (b *Browser) Value(ctx context.Context, sel string) (string, error) {
	return run(ctx, b, fmt.Sprintf("read the value of %q", sel), chromedp.Value(chromedp.CSS(sel)))
}

// Press sends keys to whatever has the focus, as a person at the keyboard
// would: kb.Tab, kb.Enter and the like from chromedp/kb, or text. It
// does not wait for a navigation a key starts.
func (b *Browser) Press(ctx context.Context, keys string) error {
	_, err := run(ctx, b, "press keys", chromedp.KeyEvent(keys))
	return err
}

// Focused returns the id (or, without one, the tag name) of the element
// that has the focus.
func (b *Browser) Focused(ctx context.Context) (string, error) {
	return run(ctx, b, "read the focus", chromedp.Evaluate[string](
		`(() => { const e = document.activeElement; return e ? (e.id || e.localName) : ""; })()`))
}

// Cookie returns the value of the cookie name the browser would send to
// the page it shows (HttpOnly ones too), or an error when there is none.
func (b *Browser) Cookie(ctx context.Context, name string) (string, error) {
	return run(ctx, b, fmt.Sprintf("read cookie %q", name), func(ctx context.Context, t *chromedp.Target) (string, error) {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			return "", err
		}
		for _, c := range res.Cookies {
			if c.Name == name {
				return c.Value, nil
			}
		}
		return "", fmt.Errorf("no cookie %q", name)
	})
}

// Viewport sets the tab's window to width × height CSS pixels, as a
// phone's would be (320 wide is the smallest pages must serve).
func (b *Browser) Viewport(ctx context.Context, width, height int64) error {
	_, err := run(ctx, b, fmt.Sprintf("set the viewport to %dx%d", width, height), chromedp.EmulateViewport(width, height))
	return err
}

// Overflows reports whether the page is wider than the window: content a
// person would have to scroll sideways to reach (a table that scrolls in
// its own box does not count).
func (b *Browser) Overflows(ctx context.Context) (bool, error) {
	return run(ctx, b, "measure the page's width", chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth > window.innerWidth + 1`))
}
