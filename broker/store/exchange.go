package store

// ClientExchange is what a client may exchange at the token endpoint
// (RFC 8693 token exchange; broker/exchange.go). A client without it may
// exchange nothing.
type ClientExchange struct {
	// Issuers are names of configured external issuers whose tokens the
	// client may present as subject tokens.
	Issuers []string `json:"issuers,omitempty"`
	// Delegation lets the client exchange a user's Portico access token
	// whose audience names it, or which was issued to a client in
	// DelegationFrom, for a narrower one.
	Delegation     bool     `json:"delegation,omitempty"`
	DelegationFrom []string `json:"delegation_from,omitempty"`
	// Audiences are the audiences (and resources) it may ask for.
	Audiences []string `json:"audiences,omitempty"`
}
