#!/bin/sh
# Installs the Debian packages that building and testing vipa-exec need, and
# golangci-lint, when missing.
set -eu
need=""
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
pkgs="libseccomp-dev busybox-static curl python3 iproute2 gcc libc6-dev pkg-config systemd"
# make deb and its test: dpkg-shlibdeps, objcopy, lintian.
pkgs="$pkgs dpkg-dev binutils lintian"
# DNS tools and a DNS server for the wildcard-bind tests.
pkgs="$pkgs bind9-dnsutils dnsmasq-base"
# clang, llvm-strip, libbpf's bpf_helpers.h and the kernel's uapi headers:
# TestGeneratedUpToDate rebuilds the in-kernel engine's BPF object (the
# committed one was built by Debian bookworm's clang 14).
pkgs="$pkgs clang llvm libbpf-dev linux-libc-dev"
# gcc -m32 for the test of 32-bit (i386) programs.
[ "$(uname -m)" = x86_64 ] && pkgs="$pkgs gcc-multilib"
for p in $pkgs; do
	have "$p" || need="$need $p"
done
# javac and java for the Java client: any JDK will do, Debian's default if none.
command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || need="$need default-jdk-headless"
if [ -n "$need" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$need (run as root, or install them with apt-get)" >&2
		exit 1
	fi
	echo "install-deps: installing$need" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
# golangci-lint for make vet (.golangci.yml), built from source into GOBIN or
# GOPATH/bin, where the Makefile looks: some ten minutes on a fresh machine.
lint=v2.15.0
go=${GO:-go}
bin=$("$go" env GOBIN)
[ -n "$bin" ] || bin="$("$go" env GOPATH | cut -d: -f1)/bin"
if ! "$bin/golangci-lint" version 2>/dev/null | grep -q "version ${lint#v} "; then
	echo "install-deps: building golangci-lint $lint into $bin" >&2
	GOBIN=$bin "$go" install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$lint"
fi
