// Command testplugin is a connector plugin for the plugin host's tests:
// processtest.Users served with sdk/plugin. With TESTPLUGIN_NO_SOCKETS
// set it ignores the call sockets, as a plugin built with an older sdk
// does.
package main

import (
	"os"

	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk/plugin"
)

func main() {
	if os.Getenv("TESTPLUGIN_NO_SOCKETS") != "" {
		os.Unsetenv(plugin.EnvCallFDs)
	}
	plugin.Serve(processtest.NewUsers)
}
