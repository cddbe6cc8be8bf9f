// Command testplugin is a connector plugin for the plugin host's tests:
// processtest.Users served with sdk/plugin. With TESTPLUGIN_NO_SOCKETS
// set it ignores the call sockets, as a plugin built with an older sdk
// does; with TESTPLUGIN_MUTE_SOCKETS, or when the file TESTPLUGIN_MUTE_IF
// names exists, it greets on them and never reads (and says so on
// stderr).
package main

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk/plugin"
)

func main() {
	if os.Getenv("TESTPLUGIN_NO_SOCKETS") != "" {
		os.Unsetenv(plugin.EnvCallFDs)
	}
	_, err := os.Stat(os.Getenv("TESTPLUGIN_MUTE_IF"))
	if os.Getenv("TESTPLUGIN_MUTE_SOCKETS") != "" || (os.Getenv("TESTPLUGIN_MUTE_IF") != "" && err == nil) {
		os.Stderr.WriteString("testplugin: muted\n")
		var mute []net.Conn // kept open, never read
		for _, f := range strings.Split(os.Getenv(plugin.EnvCallFDs), ",") {
			fd, _ := strconv.Atoi(f)
			if c, err := net.FileConn(os.NewFile(uintptr(fd), "call")); err == nil {
				c.Write([]byte("portico\x01"))
				mute = append(mute, c)
			}
		}
		os.Unsetenv(plugin.EnvCallFDs)
		defer func() { _ = mute }()
	}
	plugin.Serve(processtest.NewUsers)
}
