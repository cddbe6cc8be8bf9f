# Portico. `make run` starts a dev server; `make test` runs every test.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 30s

.PHONY: run test test-short vet bench fuzz build clean

run:
	$(GO) run ./cmd/portico serve --dev

build:
	$(GO) build -o bin/portico ./cmd/portico

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt needed"; exit 1; }
	$(GO) vet $(PKGS)

# The race detector runs on everything: the store, token service and broker
# are where concurrent requests meet.
test: vet
	$(GO) test -race -count=1 $(PKGS)

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
	$(GO) test -run='^$$' -fuzz=FuzzConfig -fuzztime=$(FUZZTIME) ./broker/config/

clean:
	rm -rf bin portico-data
