// Command testplugin is a connector plugin for the plugin host's tests:
// processtest.Users served with sdk/plugin.
package main

import (
	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk/plugin"
)

func main() { plugin.Serve(processtest.NewUsers) }
