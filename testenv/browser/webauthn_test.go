package browser

import (
	"encoding/base64"
	"strings"
	"testing"
)

// webauthnPage registers a passkey for the page's host (the RP ID) and
// signs in with it, the way a login page would, and shows the outcome in
// #result (class "done" once there is one).
const webauthnPage = `<!doctype html><html lang="en"><title>Passkey</title>
<button id="register">Register</button> <button id="login">Sign in</button>
<p id="result"></p>
<script>
const show = s => { const r = document.getElementById("result"); r.textContent = s; r.className = "done"; };
const challenge = () => crypto.getRandomValues(new Uint8Array(32));
document.getElementById("register").onclick = async () => {
	try {
		const c = await navigator.credentials.create({publicKey: {
			rp: {id: location.hostname, name: "Portico test"},
			user: {id: new TextEncoder().encode("user-1"), name: "alice", displayName: "Alice"},
			challenge: challenge(),
			pubKeyCredParams: [{type: "public-key", alg: -7}],
			authenticatorSelection: {residentKey: "required", userVerification: "required"},
		}});
		show("registered " + c.id);
	} catch (e) { show("error " + e.name + ": " + e.message); }
};
document.getElementById("login").onclick = async () => {
	try {
		// No allowCredentials: the authenticator must find a resident key.
		const a = await navigator.credentials.get({publicKey: {
			rpId: location.hostname, challenge: challenge(), userVerification: "required"}});
		const flags = new Uint8Array(a.response.authenticatorData)[32];
		show("asserted " + a.id + " uv=" + ((flags & 4) !== 0));
	} catch (e) { show("error " + e.name + ": " + e.message); }
};
</script>`

func TestWebAuthnVirtualAuthenticator(t *testing.T) {
	ts := site(t)
	b := New(t)
	ctx := t.Context()
	a, err := b.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds, err := a.Credentials(ctx); err != nil || len(creds) != 0 {
		t.Fatalf("new authenticator holds %v, %v", creds, err)
	}
	result := func(button string) string {
		t.Helper()
		must(t, b.Click(ctx, button))
		must(t, b.WaitVisible(ctx, "#result.done"))
		text, err := b.Text(ctx, "#result")
		must(t, err)
		return text
	}

	page := Localhost(ts.URL) + "/webauthn"
	must(t, b.Navigate(ctx, page))
	got := result("#register")
	id, ok := strings.CutPrefix(got, "registered ")
	if !ok {
		t.Fatalf("registering on %s: %s", page, got)
	}
	creds, err := a.Credentials(ctx)
	if err != nil || len(creds) != 1 {
		t.Fatalf("after registering: credentials %+v, %v", creds, err)
	}
	c := creds[0]
	if base64.RawURLEncoding.EncodeToString(c.ID) != id || c.RPID != "localhost" || c.UserName != "alice" ||
		string(c.UserHandle) != "user-1" || !c.Resident {
		t.Errorf("credential %+v, want ID %s for alice (user-1) at localhost, resident", c, id)
	}

	must(t, b.Navigate(ctx, page))
	if got := result("#login"); got != "asserted "+id+" uv=true" {
		t.Errorf("signing in: %s", got)
	}
	creds, err = a.Credentials(ctx)
	if err != nil || len(creds) != 1 || creds[0].SignCount != c.SignCount+1 {
		t.Errorf("after signing in: credentials %+v, %v; want the sign count one up from %d", creds, err, c.SignCount)
	}

	// The same page on 127.0.0.1 is a secure context, but an IP address
	// is no RP ID.
	must(t, b.Navigate(ctx, ts.URL+"/webauthn"))
	if got := result("#register"); !strings.HasPrefix(got, "error SecurityError") {
		t.Errorf("registering on %s: %s; want a SecurityError", ts.URL, got)
	}
	if creds, err := a.Credentials(ctx); err != nil || len(creds) != 1 {
		t.Errorf("after the refused registration: credentials %+v, %v", creds, err)
	}
}
