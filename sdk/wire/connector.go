package wire

import "github.com/portico-idp/portico/sdk"

// Connector returns r as a value that implements exactly the sdk
// interfaces the far side reported, so the broker's type assertions see
// the same capabilities as for a built-in connector.
func Connector(r *Remote) any {
	i := r.info
	type pw = sdk.PasswordConnector
	type cb = sdk.CallbackConnector
	type rf = sdk.RefreshConnector
	type md = sdk.MetadataConnector
	switch {
	case i.Password && !i.Callback && i.Refresh:
		return struct {
			pw
			rf
		}{r, r}
	case i.Password && !i.Callback && !i.Refresh:
		return struct{ pw }{r}
	case !i.Password && i.Callback && i.Refresh && i.Metadata:
		return struct {
			cb
			rf
			md
		}{r, r, r}
	case !i.Password && i.Callback && i.Refresh:
		return struct {
			cb
			rf
		}{r, r}
	case !i.Password && i.Callback && i.Metadata:
		return struct {
			cb
			md
		}{r, r}
	case !i.Password && i.Callback:
		return struct{ cb }{r}
	case i.Password && i.Callback && i.Refresh:
		return struct {
			pw
			cb
			rf
		}{r, r, r}
	case i.Password && i.Callback:
		return struct {
			pw
			cb
		}{r, r}
	}
	return struct{}{}
}
