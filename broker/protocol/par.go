package protocol

// Pushed authorization requests (RFC 9126). The client posts its
// authorization parameters to /par, authenticated as at /token, and gets
// a request_uri to send the browser to /authorize with instead of them.
// The parameters are validated on the way in, as /authorize would, so a
// bad request fails at the client's back end, not in the person's
// browser; and they reach Portico unseen by the browser and unchanged.
//
// A pushed request is a store record keyed by the hash of its
// request_uri, bound to the client, for parTTL. /authorize spends it with
// a delete, which only one replica can win: a request_uri works once.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
)

const (
	// parURNPrefix starts every request_uri Portico issues (RFC 9126 §2.2).
	parURNPrefix = "urn:ietf:params:oauth:request_uri:"
	// PushedRequestTTL is how long a request_uri may be used: the client
	// sends the browser on at once.
	PushedRequestTTL = time.Minute
	// parKind is the store record of a pushed request.
	parKind = "par"
	// maxPushedBytes bounds a /par body: a request object (at most
	// maxRequestObjectBytes), a client assertion and a few short
	// parameters.
	maxPushedBytes = 64 << 10
)

// pushedParams are the parameters a pushed request keeps: those
// checkAuthorization reads, each bounded there. Anything else the client
// sent is dropped, so a record is small whatever the body was.
var pushedParams = []string{"redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "acr_values", "response_mode", "resource", "ui_locales", "dpop_jkt",
	"id_token_hint"}

// pushedRequest is a pushed request's record.
type pushedRequest struct {
	ClientID string `json:"client_id"`
	Params   string `json:"params"` // form-encoded
	Signed   bool   `json:"signed,omitempty"`
	// Expiry by the broker's clock, which decides (the store's record
	// lives a little longer, by its own).
	Expiry time.Time `json:"expiry"`
}

// handlePAR is RFC 9126 §2: validate and keep the pushed parameters,
// answer 201 with their request_uri.
func (p *Server) handlePAR(c *gin.Context) {
	if p.askNonce(c) {
		return
	}
	client, ok := p.limitedClient(c, "temporarily_unavailable")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	form := c.Request.PostForm
	if form.Get("request_uri") != "" { // RFC 9126 §2.1
		p.writeTokenError(c, invalidRequest("request_uri cannot be pushed"))
		return
	}
	params, src := form, authSource{pushed: true}
	if form.Get("request") != "" {
		var oe *objectError
		if params, oe = p.requestObject(ctx, client, form.Get("request"), form.Get("client_id")); oe != nil {
			p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "invalid_request_object", desc: oe.desc})
			return
		}
		src.signed = true
	}
	if _, _, e := p.checkAuthorization(client, params, src); e != nil {
		// A page's error has its code too: the client reads JSON here.
		p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: e.code, desc: e.desc})
		return
	}
	kept := url.Values{}
	for _, name := range pushedParams {
		if v, ok := params[name]; ok {
			kept[name] = v
		}
	}
	// A proof sent with the push binds the code to its key, as dpop_jkt
	// would (RFC 9449 §10.1); both must then name the same key.
	jkt, perr := p.tokenProof(c, client, "/par")
	if perr != nil {
		p.writeTokenError(c, perr)
		return
	}
	if jkt != "" {
		if named := kept.Get("dpop_jkt"); named != "" && named != jkt {
			p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "invalid_dpop_proof", desc: "dpop_jkt is not the key of the DPoP proof"})
			return
		}
		kept.Set("dpop_jkt", jkt)
	}
	now := p.opts.Now()
	uri := parURNPrefix + tokensvc.NewID()
	rec := pushedRequest{ClientID: client.ID, Params: kept.Encode(), Signed: src.signed, Expiry: now.Add(PushedRequestTTL)}
	value, _ := json.Marshal(rec)
	err := p.store.PutRecord(ctx, store.Record{Kind: parKind, Key: core.HashString(uri), Value: value,
		Expiry: time.Now().Add(PushedRequestTTL + time.Minute)})
	if err != nil {
		p.log.Error("par: store", "client_id", client.ID, "err", err)
		p.writeTokenError(c, serverError("try again later"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(http.StatusCreated, gin.H{"request_uri": uri, "expires_in": int(PushedRequestTTL / time.Second)})
}

// spendPushed returns the parameters pushed for uri by client, and spends
// them. An unknown, expired, spent or other client's request_uri all get
// the same page: its redirect URI is not known, and the client learns
// nothing of another's.
func (p *Server) spendPushed(ctx context.Context, client store.Client, uri string) (url.Values, authSource, *authError) {
	gone := &authError{code: "invalid_request_uri", desc: "the request_uri is unknown, expired or used", page: ui.MsgLoginExpired}
	key := core.HashString(uri)
	r, err := p.store.GetRecord(ctx, parKind, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, authSource{}, gone
	} else if err != nil {
		p.log.Error("authorize: read pushed request", "client_id", client.ID, "err", err)
		return nil, authSource{}, &authError{code: "temporarily_unavailable", desc: "try again later", page: ui.MsgUnavailable, status: http.StatusServiceUnavailable}
	}
	var rec pushedRequest
	if json.Unmarshal(r.Value, &rec) != nil || rec.ClientID != client.ID || !p.opts.Now().Before(rec.Expiry) {
		return nil, authSource{}, gone
	}
	params, err := url.ParseQuery(rec.Params)
	if err != nil {
		return nil, authSource{}, gone
	}
	// The delete is the spend: of two uses, on any replicas, one deletes
	// and the other finds nothing.
	switch err := p.store.DeleteRecord(ctx, parKind, key); {
	case errors.Is(err, store.ErrNotFound):
		return nil, authSource{}, gone
	case err != nil:
		p.log.Error("authorize: spend pushed request", "client_id", client.ID, "err", err)
		return nil, authSource{}, &authError{code: "temporarily_unavailable", desc: "try again later", page: ui.MsgUnavailable, status: http.StatusServiceUnavailable}
	}
	for name := range params {
		if !slices.Contains(pushedParams, name) {
			delete(params, name)
		}
	}
	return params, authSource{pushed: true, signed: rec.Signed}, nil
}
