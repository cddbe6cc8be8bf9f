# Portico. `make run` starts a dev server; `make test` runs every test.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 30s

.PHONY: run test test-short deps vet bench fuzz build clean

run:
	$(GO) run ./cmd/portico serve --dev

build:
	$(GO) build -o bin/portico ./cmd/portico

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt needed"; exit 1; }
	$(GO) vet $(PKGS)

# The race detector runs on everything: the store, token service and broker
# are where concurrent requests meet.
test: deps vet
	$(GO) test -race -count=1 $(PKGS)

# Test servers from Debian: installed when missing and the machine allows
# it (root with apt). Without them the tests that need them skip loudly,
# and fail under CI=true.
deps:
	@if ! command -v slapd >/dev/null && ! test -x /usr/sbin/slapd; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing slapd and ldap-utils"; \
	    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null; \
	  else echo "slapd missing and cannot be installed here: LDAP tests will skip"; fi; \
	fi

test-short:
	$(GO) test -count=1 $(PKGS)

bench:
	$(GO) run ./internal/bench

# Runs each fuzz target for FUZZTIME; their seed corpora run in `make test`.
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParsePHC -fuzztime=$(FUZZTIME) ./connectors/local/
	$(GO) test -run='^$$' -fuzz=FuzzVerifyAccess -fuzztime=$(FUZZTIME) ./tokensvc/
	$(GO) test -run='^$$' -fuzz=FuzzRedeem -fuzztime=$(FUZZTIME) ./tokensvc/
	$(GO) test -run='^$$' -fuzz=FuzzBearer -fuzztime=$(FUZZTIME) ./broker/
	$(GO) test -run='^$$' -fuzz=FuzzTokenEndpoints -fuzztime=$(FUZZTIME) -fuzzminimizetime=0 ./broker/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./broker/config/
	$(GO) test -run='^$$' -fuzz=FuzzParseConfig -fuzztime=$(FUZZTIME) ./connectors/ldap/
	$(GO) test -run='^$$' -fuzz=FuzzObjectGUID -fuzztime=$(FUZZTIME) ./connectors/ldap/

clean:
	rm -rf bin portico-data
