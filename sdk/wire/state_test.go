package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// Password states cross the process and WASM boundaries as their own
// kinds (through JSON, as both runtimes carry them), wrapped or not, and
// still match ErrInvalidCredentials on the far side.
func TestPasswordStatesCross(t *testing.T) {
	for _, want := range []error{sdk.ErrPasswordExpired, sdk.ErrPasswordMustChange, sdk.ErrAccountLocked} {
		for _, sent := range []error{want, fmt.Errorf("ldap: bind: %w", want)} {
			b, err := json.Marshal(wire.ErrorOf(sent))
			if err != nil {
				t.Fatal(err)
			}
			var got wire.Error
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(&got, want) || !errors.Is(&got, sdk.ErrInvalidCredentials) {
				t.Errorf("%v crossed as %s: not %v and invalid credentials", sent, b, want)
			}
			for _, other := range []error{sdk.ErrPasswordExpired, sdk.ErrPasswordMustChange, sdk.ErrAccountLocked, sdk.ErrUnavailable} {
				if other != want && errors.Is(&got, other) {
					t.Errorf("%v crossed as %s, which is also %v", sent, b, other)
				}
			}
		}
	}
	// Plain invalid credentials are none of the states.
	if e := wire.ErrorOf(sdk.ErrInvalidCredentials); e.Kind != wire.KindInvalidCredentials || errors.Is(e, sdk.ErrAccountLocked) {
		t.Errorf("invalid credentials crossed as %+v", e)
	}
}
