# Portico. `make run` starts a dev server; `make test` runs every test.
GO      ?= go
PKGS    := ./...
# The sdk is its own module (docs/plugins.md, "The sdk module"): `./...`
# from the root does not enter it, so vet and test run there too.
SDK_PKGS := ./...
FUZZTIME ?= 30s

.PHONY: run test test-short deps vet bench bench-vs fuzz build clean plugins generate image package-check

run:
	$(GO) run ./cmd/portico serve --dev

# Version, commit and commit date stamped into the binary (internal/version):
# `portico version`, `portico --version`, portico_build_info in /metrics.
# The date is the commit's, in UTC, so two builds of one commit agree.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
VERSION_PKG := github.com/portico-idp/portico/internal/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) -X $(VERSION_PKG).Date=$(DATE)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/portico ./cmd/portico

# The container image as a tarball, built without a Docker daemon or a
# registry (internal/image): a static binary, CA certificates, user 65532.
# `docker load -i bin/portico-image.tar`, or `crane push` it.
IMAGE_TAR  ?= bin/portico-image.tar
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
image:
	$(GO) run ./internal/image/mkimage -o $(IMAGE_TAR) -arch $(IMAGE_ARCH) \
	  -version $(VERSION) -commit $(COMMIT) -date $(DATE) $(if $(IMAGE_TAG),-tag $(IMAGE_TAG))

# The packaging checks, kept out of `make test` for their cost; CI runs them
# (.ci/run). TestImage builds the image as `make image` does and inspects
# it (a static build of portico: about a minute cold on 2 idle cores). The
# chart is linted and rendered by a helm built from the Go module proxy:
# about 5 minutes cold on 2 busy cores, seconds once in the build cache.
HELM_VERSION := v3.22.1
package-check:
	GOBIN=$(CURDIR)/bin/tools $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	HELM=$(CURDIR)/bin/tools/helm $(GO) test -count=1 -timeout 10m ./deploy/helm/
	PORTICO_IMAGE_TEST=1 $(GO) test -count=1 -timeout 15m -run '^TestImage$$' ./internal/image/

# The example connector plugins (docs/plugins.md), with the checksums a
# connector's config needs.
plugins:
	$(GO) -C sdk build -o ../bin/plugins/ ./examples/fileusers ./examples/oauth2
	cd bin/plugins && sha256sum fileusers oauth2
	@# The same examples and the GitHub connector as WASM modules (docs/wasm-abi.md).
	GOOS=wasip1 GOARCH=wasm $(GO) -C sdk build -buildmode=c-shared -o ../bin/plugins/fileusers.wasm ./examples/fileusers
	GOOS=wasip1 GOARCH=wasm $(GO) -C sdk build -buildmode=c-shared -o ../bin/plugins/oauth2.wasm ./examples/oauth2
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o bin/plugins/github.wasm ./plugins/wasm/modules/github
	cd bin/plugins && sha256sum fileusers.wasm oauth2.wasm github.wasm

# Regenerates the plugin protocol's gRPC code (committed, so building needs
# no protoc). Pinned generators; protoc is Debian's protobuf-compiler (3.21).
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
generate:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	cd sdk/plugin/proto && PATH="$(CURDIR)/bin/tools:$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative connector.proto

# vet with -race: its compiles of every dependency are then the ones
# `go test -race` reuses, not a second, non-race build of the whole module
# (on a loaded 2-core machine vet alone took 12 minutes, issue 19).
vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt needed"; exit 1; }
	$(GO) vet -race $(PKGS)
	$(GO) -C sdk vet -race $(SDK_PKGS)

# The race detector runs on everything: the store, token service and broker
# are where concurrent requests meet. The timeout is per package: the
# slowest (./broker) takes about 6 minutes alone and 16 with every other
# package beside it on 2 cores (2026-12-07, no hog), so 30 minutes leaves
# room for a CPU hog (.ci/run) and a hang still fails well inside CI's
# limit. Tests that depend on time move an injected clock instead of
# sleeping (DEVELOPERS.md, "Tests and time").
test: deps vet
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) -C sdk test -race -count=1 -timeout 30m $(SDK_PKGS)

# testenv.MailpitVersion says the same.
MAILPIT_VERSION := v1.33.1

# Test servers and tools from Debian (slapd, Chromium, minisign), axe-core, AssemblyScript and openid-client from npm,
# mailpit from the Go module proxy:
# installed when missing and the machine allows it (root with apt; npm).
# Without them the tests that need them skip loudly, and fail under CI=true.
deps:
	@if ! command -v slapd >/dev/null && ! test -x /usr/sbin/slapd; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing slapd and ldap-utils"; \
	    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null; \
	  else echo "slapd missing and cannot be installed here: LDAP tests will skip"; fi; \
	fi
	@if ! command -v minisign >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing minisign"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends minisign >/dev/null; \
	  else echo "minisign missing and cannot be installed here: the signature interoperability test will skip"; fi; \
	fi
	@if ! test -x /usr/bin/chromium; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and cannot be installed here: browser tests will skip"; fi; \
	fi
	@# mailpit, a real SMTP server for the mail tests (testenv/mailpit.go), built from
	@# the Go module proxy into bin/tools (not a module dependency: it is large).
	@if ! test -x bin/tools/mailpit && ! command -v mailpit >/dev/null; then \
	  echo "installing mailpit $(MAILPIT_VERSION)"; \
	  GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION) || \
	    echo "mailpit cannot be built here: mail tests will skip"; \
	fi
	@# axe-core for the browser tests' accessibility checks (testenv/browser).
	@if ! test -f testenv/browser/node/node_modules/axe-core/axe.min.js; then \
	  if command -v npm >/dev/null; then \
	    echo "installing axe-core"; \
	    npm install --no-save --no-audit --no-fund --silent --prefix testenv/browser/node axe-core@4 >/dev/null; \
	  else echo "npm missing: accessibility checks will skip"; fi; \
	fi
	@# The AssemblyScript compiler for the AssemblyScript connector example (plugins/wasm/asc_test.go).
	@if ! test -x sdk/examples/asc-users/node_modules/.bin/asc; then \
	  if command -v npm >/dev/null; then \
	    echo "installing the AssemblyScript compiler"; \
	    npm ci --no-audit --no-fund --silent --prefix sdk/examples/asc-users >/dev/null; \
	  else echo "npm missing: the AssemblyScript connector's tests will skip"; fi; \
	fi
	@# openid-client, an independent OAuth client for the PAR, JAR and DPoP interoperability test
	@# (broker/oidcclient_test.go); the lock file pins it.
	@if ! test -f testenv/oidcclient/node_modules/openid-client/package.json; then \
	  if command -v npm >/dev/null; then \
	    echo "installing openid-client"; \
	    npm ci --no-audit --no-fund --silent --prefix testenv/oidcclient >/dev/null; \
	  else echo "npm missing: the independent OAuth client's test will skip"; fi; \
	fi

test-short:
	$(GO) test -count=1 $(PKGS)
	$(GO) -C sdk test -count=1 $(SDK_PKGS)

# The HTTP hot paths next to their floors, then the connector boundaries:
# LDAP logins through the pool next to one raw bind, a login through a
# process plugin and through a WASM module next to the same connector
# built in (docs/performance.md).
bench:
	$(GO) run ./internal/bench
	$(GO) test -run='^$$' -bench='^Benchmark(Login|RawBind)$$' -benchtime=2s ./connectors/ldap/
	$(GO) test -run='^$$' -bench='^BenchmarkLogin$$' -benchtime=2s ./plugins/process/
	$(GO) test -run='^$$' -bench='^BenchmarkWASM' -benchtime=2s ./plugins/wasm/

# Side by side with another OpenID provider (docs/performance.md):
# make bench-vs PEER_URL=http://127.0.0.1:5556/dex PEER_CLIENT=id:secret [PEER_CMD="dex serve dex.yaml"] [PEER_USER=user:password]
bench-vs:
	$(GO) run ./internal/bench -peer-url "$(PEER_URL)" -peer-client "$(PEER_CLIENT)" -peer-cmd "$(PEER_CMD)" -peer-user "$(PEER_USER)"

# Runs each fuzz target for FUZZTIME; their seed corpora run in `make test`.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParsePHC$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/local/
	$(GO) test -run='^$$' -fuzz='^FuzzVerifyAccess$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./tokensvc/
	$(GO) test -run='^$$' -fuzz='^FuzzRedeem$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./tokensvc/
	$(GO) test -run='^$$' -fuzz='^FuzzBearer$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzTokenEndpoints$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/config/
	$(GO) test -run='^$$' -fuzz='^FuzzApply$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/mapping/
	$(GO) test -run='^$$' -fuzz='^FuzzBuild$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/mail/
	$(GO) test -run='^$$' -fuzz='^FuzzParseConfig$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/ldap/
	$(GO) test -run='^$$' -fuzz='^FuzzObjectGUID$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/ldap/
	$(GO) test -run='^$$' -fuzz='^FuzzParseConfig$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/saml/
	$(GO) test -run='^$$' -fuzz='^FuzzHandleCallback$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/saml/
	$(GO) test -run='^$$' -fuzz='^FuzzParseConfig$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/oidc/
	$(GO) test -run='^$$' -fuzz='^FuzzMapIdentity$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/oidc/
	$(GO) test -run='^$$' -fuzz='^FuzzNextLink$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./connectors/github/
	$(GO) -C sdk test -run='^$$' -fuzz='^FuzzOpen$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./upstream/
	$(GO) -C sdk test -run='^$$' -fuzz='^FuzzServe$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./wire/
	$(GO) -C sdk test -run='^$$' -fuzz='^FuzzDecodeRequest$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./internal/wirejson/
	$(GO) -C sdk test -run='^$$' -fuzz='^FuzzAppendResponse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./internal/wirejson/
	$(GO) -C sdk test -run='^$$' -fuzz='^FuzzParseUsers$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./examples/fileusers/
	$(GO) test -run='^$$' -fuzz='^FuzzLogWriter$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./plugins/process/
	$(GO) test -run='^$$' -fuzz='^FuzzParseHTTPRequest$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./plugins/wasm/
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/mfa/
	$(GO) test -run='^$$' -fuzz='^FuzzMatchRecoveryCode$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/mfa/
	$(GO) test -run='^$$' -fuzz='^FuzzRegister$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzLoginPages$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzAdminAPI$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzCheckIdentity$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzExchangeRequest$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzExchangeSubject$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/
	$(GO) test -run='^$$' -fuzz='^FuzzUserCode$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./broker/

clean:
	rm -rf bin portico-data

# docs/configuration.md from docs/src/configuration.md and the doc
# comments of broker/config (internal/confdoc), and the WASM ABI's JSON
# Schemas in docs/wasm-abi/ from the sdk's message types
# (internal/abischema); tests fail when either is stale.
.PHONY: docs
docs:
	$(GO) generate ./broker/config/
	$(GO) generate ./internal/abischema/
