//go:build !wasip1

package main

import "github.com/portico-idp/portico/sdk/plugin"

func main() { plugin.Serve(newConnector) }
