// Command mkimage builds Portico's container image tarball without a
// Docker daemon (`make image`; internal/image says how). Load it with
// `docker load -i`, `podman load -i`, or push it with `crane push`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/portico-idp/portico/internal/image"
)

func main() {
	var o image.Options
	flag.StringVar(&o.Output, "o", "bin/portico-image.tar", "image tarball to write")
	flag.StringVar(&o.Tag, "tag", "", "repository:tag in the tarball (default portico:VERSION)")
	flag.StringVar(&o.GOARCH, "arch", "", "architecture (default the build machine's)")
	flag.StringVar(&o.Version, "version", "dev", "version stamped and labelled")
	flag.StringVar(&o.Commit, "commit", "unknown", "git commit stamped and labelled")
	flag.StringVar(&o.Date, "date", "unknown", "commit date, RFC 3339: stamped, labelled, and the image's time")
	flag.StringVar(&o.CACerts, "ca-certs", image.CACertsPath, "PEM bundle of CA certificates to copy in")
	flag.StringVar(&o.Source, "source", image.DefaultSource, "org.opencontainers.image.source label")
	flag.StringVar(&o.Dir, "C", ".", "module root to build in")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := image.Build(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", o.Output)
}
