#!/bin/bash
# Builds bin/vipa-exec_VERSION_ARCH.deb from a staged `make install`:
#
#   packaging/deb/build-deb.sh [OUTDIR]        (`make deb` runs it)
#
# The binary is the dynamic build (libseccomp2 and libc from the system);
# Depends is what dpkg-shlibdeps finds it linked against. The Debian version
# is $DEB_VERSION, else derived from `git describe` (see below).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/bin}
cd "$root"
go=${GO:-go}

version=${DEB_VERSION:-}
if [ -z "$version" ]; then
	# A release tag v1.2.3 gives 1.2.3 (1.2.3+4.gABCDEF past it); no tag,
	# 0~gitYYYYMMDD.ABCDEF (+dirty for uncommitted changes).
	if tag=$(git describe --tags --dirty --match 'v[0-9]*' 2>/dev/null); then
		version=${tag#v}
		version=${version//-/+}
	else
		rev=$(git describe --always --dirty 2>/dev/null || echo unknown)
		version="0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d).${rev//-/+}"
	fi
fi
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$out" "$stage/DEBIAN"

# Debian's hardening flags (PIE, full RELRO, fortified and stack-protected C
# for the cgo parts) and a stripped binary, as dh_strip leaves it.
CGO_ENABLED=1 CGO_CFLAGS="-g -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong" \
	"$go" build -trimpath -buildmode=pie \
	-ldflags "-s -w -X main.version=$version -extldflags=-Wl,-z,relro,-z,now" \
	-o "$work/vipa-exec" ./cmd/vipa-exec
objcopy --remove-section=.comment "$work/vipa-exec"
make --no-print-directory install BIN="$work/vipa-exec" DESTDIR="$stage" PREFIX=/usr >/dev/null
install -d -m 0755 "$stage/etc/vipa-exec"
doc=$stage/usr/share/doc/vipa-exec
gzip -9n "$stage/usr/share/man/man8/vipa-exec.8"
install -m 0644 packaging/deb/copyright "$doc/copyright"
sed "s/@VERSION@/$version/; s/@DATE@/$(date -u -R)/" packaging/deb/changelog | gzip -9n >"$doc/changelog.gz"

# dpkg-shlibdeps reads debian/control of a source tree: give it a minimal one.
mkdir -p "$work/src/debian"
printf 'Source: vipa-exec\n\nPackage: vipa-exec\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O -e"$stage/usr/bin/vipa-exec" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

(cd "$stage" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$size/" \
	packaging/deb/control >"$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control"

deb=$out/vipa-exec_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
