# vipa-exec build, test, bench and demo targets.
# Every target installs what it needs (Debian packages through apt-get) when it is missing.
GO      ?= go
BIN     ?= bin/vipa-exec
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build deps test unit bench demo vet clean

all: build

deps:
	@./tests/install-deps.sh

build: deps
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vipa-exec

vet: deps
	$(GO) vet ./...

# The whole suite: unit tests, fuzz seeds and the end-to-end tests that run real
# programs under vipa-exec in throwaway network namespaces (needs root).
test: deps vet
	$(GO) test -count=1 ./...

# Only the pure packages: no privileges needed.
unit: deps
	$(GO) test -count=1 ./internal/conf/... ./internal/policy/... ./internal/rewrite/...

bench: build
	$(GO) run ./tests/bench -vipa-exec $(BIN)

demo: build
	./examples/demo.sh $(BIN)

clean:
	rm -rf bin
