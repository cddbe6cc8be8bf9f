package main

import "testing"

func TestRefreshTokenOf(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string
		ok   bool
	}{
		{`{"access_token":"a","refresh_token":"prt_x-y_z","token_type":"Bearer"}`, "prt_x-y_z", true},
		{`{"access_token": "a", "refresh_token": "spaced"}`, "spaced", true}, // not compact: decoded
		{`{"refresh_token":"a\u002fb"}`, "a/b", true},                        // an escape: decoded
		{`{"refresh_token":""}`, "", false},
		{`{"access_token":"a"}`, "", false},
		{`{"refresh_token":"unterminated`, "", false},
		{``, "", false},
	} {
		got, ok := refreshTokenOf([]byte(tc.body))
		if got != tc.want || ok != tc.ok {
			t.Errorf("refreshTokenOf(%s) = %q, %v; want %q, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}
