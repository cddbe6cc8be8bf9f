// Command badplugin is a connector plugin that gets the handshake wrong in
// the way its first argument says, for the plugin host's refusal tests:
//
//	cookie    another magic cookie
//	version   another protocol version (2)
//	garbage   junk on stdout before the handshake
package main

import (
	"fmt"
	"os"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk/plugin"
)

func main() {
	hs := plugin.Handshake
	switch arg(1) {
	case "cookie":
		hs.MagicCookieValue = "another-cookie"
	case "version":
		hs.ProtocolVersion = 2
	case "garbage":
		fmt.Println("hello from a plugin that talks too early")
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         goplugin.PluginSet{plugin.PluginName: &plugin.GRPCPlugin{Factory: processtest.NewUsers}},
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}

func arg(i int) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	return ""
}
