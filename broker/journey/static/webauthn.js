// Portico's passkey pages (broker/ui/templates/passkey.html): the only script
// the pages run, served from the broker itself under script-src 'self'.
//
// The page's form says what to do: data-mode "create" (register a passkey)
// or "get" (log in with one), data-begin the endpoint that answers the
// options as JSON. The script asks it for them, calls the browser's
// navigator.credentials, and posts the answer, as JSON in the form's
// "credential" field, to the form's action: the server answers with the
// next page of the login. Binary members travel as base64url.
(function () {
	"use strict";
	var form = document.getElementById("passkey-form");
	if (!form) {
		return;
	}
	var button = document.getElementById("passkey-start");
	var status = document.getElementById("passkey-status");
	var error = document.getElementById("passkey-error");
	var data = form.dataset;
	var busy = false;

	function fromB64url(s) {
		s = s.replace(/-/g, "+").replace(/_/g, "/");
		while (s.length % 4) {
			s += "=";
		}
		var bin = atob(s);
		var out = new Uint8Array(bin.length);
		for (var i = 0; i < bin.length; i++) {
			out[i] = bin.charCodeAt(i);
		}
		return out.buffer;
	}

	function toB64url(buf) {
		var bytes = new Uint8Array(buf);
		var bin = "";
		for (var i = 0; i < bytes.length; i++) {
			bin += String.fromCharCode(bytes[i]);
		}
		return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
	}

	function fail(message) {
		busy = false;
		status.textContent = "";
		error.textContent = message || data.msgFailed;
		error.hidden = false;
		button.disabled = false;
		button.focus();
	}

	// options turns the begin endpoint's JSON into what
	// navigator.credentials takes: ArrayBuffers for the binary members.
	function options(json) {
		var pk = json.publicKey;
		pk.challenge = fromB64url(pk.challenge);
		if (pk.user) {
			pk.user.id = fromB64url(pk.user.id);
		}
		(pk.excludeCredentials || []).concat(pk.allowCredentials || []).forEach(function (c) {
			c.id = fromB64url(c.id);
		});
		return {publicKey: pk};
	}

	// answer is the credential as the server's JSON (WebAuthn's
	// RegistrationResponseJSON and AuthenticationResponseJSON).
	function answer(cred) {
		var r = cred.response;
		var out = {
			id: cred.id,
			rawId: toB64url(cred.rawId),
			type: cred.type,
			clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
			response: {clientDataJSON: toB64url(r.clientDataJSON)}
		};
		if (cred.authenticatorAttachment) {
			out.authenticatorAttachment = cred.authenticatorAttachment;
		}
		if (r.attestationObject) {
			out.response.attestationObject = toB64url(r.attestationObject);
			if (r.getTransports) {
				out.response.transports = r.getTransports();
			}
		} else {
			out.response.authenticatorData = toB64url(r.authenticatorData);
			out.response.signature = toB64url(r.signature);
			if (r.userHandle) {
				out.response.userHandle = toB64url(r.userHandle);
			}
		}
		return out;
	}

	function run() {
		if (busy) {
			return;
		}
		if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
			fail(data.msgUnsupported);
			return;
		}
		busy = true;
		button.disabled = true;
		error.hidden = true;
		status.textContent = data.msgWorking;
		var body = new URLSearchParams();
		body.set("req", form.elements.req.value);
		body.set("csrf", form.elements.csrf.value);
		fetch(data.begin, {method: "POST", body: body, credentials: "same-origin", headers: {"Accept": "application/json"}})
			.then(function (resp) {
				return resp.json().catch(function () { return {}; }).then(function (json) {
					if (!resp.ok || !json.publicKey) {
						throw {server: json.message || data.msgFailed};
					}
					return json;
				});
			})
			.then(function (json) {
				var opts = options(json);
				return data.mode === "create" ? navigator.credentials.create(opts) : navigator.credentials.get(opts);
			})
			.then(function (cred) {
				if (!cred) {
					throw {server: data.msgFailed};
				}
				form.elements.credential.value = JSON.stringify(answer(cred));
				form.submit();
			})
			.catch(function (e) {
				if (e && e.server) {
					fail(e.server);
				} else if (e && (e.name === "NotAllowedError" || e.name === "AbortError")) {
					fail(data.msgCancelled);
				} else if (e && e.name === "InvalidStateError" && data.mode === "create") {
					// The authenticator already holds a passkey of this user.
					fail(data.msgExists);
				} else {
					fail(data.msgFailed);
				}
			});
	}

	form.addEventListener("submit", function (e) {
		e.preventDefault();
		run();
	});
	if (data.auto === "true") {
		run();
	}
}());
