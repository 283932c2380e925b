#!/bin/bash
# vipa-exec demo: runs the same static busybox wget twice against a web
# server in a throwaway network namespace, once plain and once under
# vipa-exec, and shows which source address the server saw each time.
#
#   ./examples/demo.sh bin/vipa-exec        (as root; `make demo` does this)
#
# Exits non-zero unless the second request came from the VIPA.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 VIPA-EXEC-BINARY" >&2
	exit 2
fi
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
policy="$here/demo.toml"
vipa=192.0.2.10
server=10.1.2.3
port=8080

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (it creates a network namespace)" >&2
	exit 1
fi
for tool in ip busybox; do
	command -v "$tool" >/dev/null || { echo "demo: $tool not found" >&2; exit 1; }
done
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3) || { echo "demo: python3 not found" >&2; exit 1; }

ns="vipa-demo-$$"
tmp=$(mktemp -d)
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# The namespace: the VIPA and the "remote" server both live on its lo, so no
# packet ever leaves the machine.
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add "$vipa/32" dev lo
ip -n "$ns" addr add "$server/32" dev lo

# The server logs one line per request, starting with the client's address.
mkdir "$tmp/www"
echo "hello from $server" >"$tmp/www/index.html"
ip netns exec "$ns" "$python" -u -m http.server --bind "$server" --directory "$tmp/www" "$port" \
	>"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	ip netns exec "$ns" ss -ltnH "src $server:$port" | grep -q . && break
	sleep 0.1
done
ip netns exec "$ns" ss -ltnH "src $server:$port" | grep -q . || {
	echo "demo: the server did not start:" >&2
	cat "$tmp/server.log" >&2
	exit 1
}

# fetch LABEL CMD...: runs CMD inside the namespace and prints the source
# address the server logged for that request.
fetch() {
	local label=$1
	shift
	local before after
	before=$(grep -c '"GET ' "$tmp/server.log" || true)
	ip netns exec "$ns" "$@" >/dev/null
	for _ in $(seq 100); do
		after=$(grep -c '"GET ' "$tmp/server.log" || true)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	seen=$(grep '"GET ' "$tmp/server.log" | tail -n 1 | cut -d' ' -f1)
	printf '%-20s the server saw %s\n' "$label:" "${seen:-nothing}"
}

url="http://$server:$port/"
echo "server $url in namespace $ns; VIPA $vipa; policy $policy"
echo
echo "\$ busybox wget -q -O- $url"
fetch "without vipa-exec" busybox wget -q -O- "$url"
without=$seen
echo "\$ $1 -p $policy busybox wget -q -O- $url"
fetch "with vipa-exec" "$bin" -p "$policy" busybox wget -q -O- "$url"
with=$seen
echo

if [ "$with" != "$vipa" ]; then
	echo "demo: FAILED: with vipa-exec the server saw ${with:-nothing}, want $vipa" >&2
	exit 1
fi
echo "OK: without vipa-exec the source was $without (the kernel's choice), with vipa-exec it was the VIPA $vipa."
