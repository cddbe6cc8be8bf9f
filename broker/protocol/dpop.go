package protocol

// DPoP at the token endpoint and /par (RFC 9449 §5, §10.1). A request
// with a proof gets tokens bound to the proof's key: the access token
// carries its thumbprint (cnf.jkt) and is of type DPoP; a public client's
// refresh tokens are bound too, so each refresh must prove the same key.
// A client registered with dpop_bound_access_tokens must send a proof.
// Proofs are checked by tokensvc/dpop; their jti is taken once, across
// replicas when the store is shared (the Verifier's ReplayCache).

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// proofError answers a refused proof as RFC 9449 §5 and §8 say: 400
// invalid_dpop_proof, or use_dpop_nonce with a fresh nonce in DPoP-Nonce.
func (p *Server) proofError(err error) *tokenError {
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return &tokenError{status: http.StatusBadRequest, code: "use_dpop_nonce", desc: "the DPoP proof must carry the nonce in the DPoP-Nonce header"}
	case errors.Is(err, dpop.ErrInvalidProof):
		if errors.Is(err, dpop.ErrReplay) {
			p.log.Warn("security: DPoP proof replayed", "event", "dpop_replay")
		}
		return &tokenError{status: http.StatusBadRequest, code: "invalid_dpop_proof", desc: err.Error()}
	}
	p.log.Error("dpop: check proof", "err", err)
	return serverError("try again later")
}

// jktKey holds, in a token request's context, the thumbprint of the key
// its proof showed; bind reads it.
const jktKey = "portico.dpop.jkt"

// tokenProof checks the DPoP proof of a request to the endpoint at rel
// ("/token", "/par") and returns its key's thumbprint, or "" when there
// is none.
func (p *Server) tokenProof(c *gin.Context, client store.Client, rel string) (string, *tokenError) {
	if p.dpop.Nonces != nil {
		// Every answer carries the nonce to use next (§8.2).
		c.Header(dpop.NonceHeader, p.dpop.Nonces.Current())
	}
	proof, err := p.dpop.Verify(c.Request.Context(), c.Request.Header.Values(dpop.Header),
		dpop.Request{Method: c.Request.Method, URL: p.url(rel)})
	if errors.Is(err, dpop.ErrNoProof) {
		return "", nil
	}
	if err != nil {
		return "", p.proofError(err)
	}
	if !fapiAlg(client, proof.Alg) {
		return "", &tokenError{status: http.StatusBadRequest, code: "invalid_dpop_proof", desc: "this client (profile fapi2) signs DPoP proofs with PS256, ES256 or EdDSA"}
	}
	return proof.JKT, nil
}

// requiresDPoP: the client's token requests must carry a proof.
func requiresDPoP(client store.Client) bool {
	return client.DPoPBoundAccessTokens || client.Profile == ProfileFAPI2
}

// bind binds g's tokens to the key the token request proved, if any: the
// access token always, the session's refresh tokens for a public client,
// which has no other authentication to bind them to (§5).
func (p *Server) bind(c *gin.Context, client store.Client, g *tokensvc.Grant) {
	g.JKT = c.GetString(jktKey)
	g.BindRefresh = g.JKT != "" && client.Public
}

// askNonce answers use_dpop_nonce, before the client is authenticated,
// when the request's proof lacks the nonce Portico asks for: a client's
// retry with the nonce then repeats a request that spent nothing (a
// private_key_jwt assertion is single use).
func (p *Server) askNonce(c *gin.Context) bool {
	if !p.dpop.NeedsNonce(c.Request.Header.Values(dpop.Header)) {
		return false
	}
	c.Header(dpop.NonceHeader, p.dpop.Nonces.Current())
	p.writeTokenError(c, p.proofError(dpop.ErrUseNonce))
	return true
}
