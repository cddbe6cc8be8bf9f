package server

import (
	"encoding/json"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/journey"
)

// selfService adds local connector c's self-service settings to s.
func selfService(s *journey.SelfService, c config.Connector) error {
	raw, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	lc, err := config.ParseLocalConfig(raw)
	if err != nil {
		return err
	}
	if s.Local == nil {
		s.Local = map[string]journey.LocalService{}
	}
	r := lc.Registration
	s.Local[c.ID] = journey.LocalService{RequireVerifiedEmail: lc.RequireVerifiedEmail, Reset: lc.PasswordReset, ResetSecondFactor: lc.ResetSecondFactor,
		Register: r.Enabled, AllowedDomains: r.AllowedDomains, TermsURL: r.TermsURL}
	return nil
}
