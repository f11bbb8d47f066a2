// CoreDNS for the local node, with only the plugins its Corefile uses (bind, errors, cache,
// kubernetes). The stock binary links every plugin (cloud SDKs, Datadog, OpenTelemetry) and took
// over 20 min to build on the 2-core machine; this one reuses the client-go the rest compiles.
// The documented way to build CoreDNS with a chosen plugin set: set dnsserver.Directives, run coremain.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

// directives is the order plugins run in: a subset of CoreDNS's plugin.cfg, in its order.
var directives = []string{"bind", "errors", "cache", "kubernetes"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
