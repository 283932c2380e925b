# vipa-exec build, test, bench and demo targets.
# Every target installs what it needs (Debian packages through apt-get) when it is missing.
GO      ?= go
BIN     ?= bin/vipa-exec
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# golangci-lint where tests/install-deps.sh puts it: GOBIN, else GOPATH/bin.
GOLANGCI_LINT ?= $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)/golangci-lint

.PHONY: all build static install deb deps test unit bench demo vet clean

all: build

deps:
	@GO=$(GO) ./tests/install-deps.sh

build: deps
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vipa-exec

# A fully static binary, libseccomp and libc linked in (for containers and
# minimal hosts); pure-Go user and DNS lookups, since glibc's NSS cannot be
# linked statically.
static: deps
	CGO_ENABLED=1 $(GO) build -tags osusergo,netgo -trimpath \
		-ldflags "-X main.version=$(VERSION) -linkmode external -extldflags -static" \
		-o $(BIN) ./cmd/vipa-exec

# PREFIX=/usr/local, DESTDIR for staged installs (packaging).
install:
	@test -x $(BIN) || { echo "run make build or make static first" >&2; exit 1; }
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/vipa-exec
	install -D -m 0644 docs/vipa-exec.8 $(DESTDIR)$(PREFIX)/share/man/man8/vipa-exec.8
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/doc/vipa-exec/examples/systemd
	install -m 0644 examples/policy.toml examples/demo.toml examples/demo.sh $(DESTDIR)$(PREFIX)/share/doc/vipa-exec/examples/
	install -m 0644 examples/systemd/*.service $(DESTDIR)$(PREFIX)/share/doc/vipa-exec/examples/systemd/

# A Debian package of the dynamic build, bin/vipa-exec_VERSION_ARCH.deb:
# the files of `make install` with PREFIX=/usr, an empty /etc/vipa-exec,
# Depends from dpkg-shlibdeps.
deb: deps
	GO=$(GO) ./packaging/deb/build-deb.sh bin

# go vet three times: as built; without cgo, which only internal/launch (the
# filter's compiler, with libseccomp, and the C the launcher runs) may need,
# since every other package builds, vets and tests without it; and for
# another OS, so that the _other.go stubs and the tests of pure code build
# there too. Then golangci-lint
# (.golangci.yml: errcheck, errorlint, staticcheck, ..., and depguard for
# which packages may use x/sys/unix, unsafe, syscall and libseccomp).
vet: deps
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
	@cgo="$$($(GO) list -f '{{if .CgoFiles}}{{.ImportPath}}{{end}}' ./...)"; \
	test "$$cgo" = github.com/vipa-exec/vipa-exec/internal/launch || \
		{ echo "vet: cgo outside internal/launch: $$cgo" >&2; exit 1; }
	$(GOLANGCI_LINT) run ./...

# The whole suite: unit tests, fuzz seeds and the end-to-end tests that run real
# programs under vipa-exec in throwaway network namespaces (needs root).
test: deps vet
	$(GO) test -count=1 ./...

# Only the pure packages and tests: no privileges, no libseccomp, no C
# compiler (CGO_ENABLED=0), nothing but Go.
unit:
	CGO_ENABLED=0 $(GO) test -count=1 ./internal/conf/ ./internal/policy/ ./internal/rewrite/ ./internal/notify/
	CGO_ENABLED=0 $(GO) test -count=1 -skip 'TestTable$$' ./internal/hostroute/
	CGO_ENABLED=0 $(GO) test -count=1 -run 'TestSizes|TestRequest|TestBytecode|TestParseDump|Fuzz' ./internal/sockdiag/

bench: build
	$(GO) run ./tests/bench -vipa-exec $(BIN)

demo: build
	./examples/demo.sh $(BIN)

clean:
	rm -rf bin
