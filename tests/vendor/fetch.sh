#!/usr/bin/env bash
# Fetch the browser tests' vendored files from the npm registry at a pinned version.
#
# Usage: bash tests/vendor/fetch.sh      (needs npm; re-runnable)
#
# axe-core is injected into pages by tests/browser/ to check accessibility.
# It is never served by the service: it lives under tests/, not static/.
set -euo pipefail

AXE_CORE_VERSION="4.14.1"   # npm: axe-core

VENDOR_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v npm >/dev/null || { echo "fetch.sh: npm is required" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

tgz="$(cd "$TMP" && npm pack --silent --ignore-scripts "axe-core@${AXE_CORE_VERSION}" | tail -n 1)"
mkdir -p "$TMP/axe"
tar -xzf "$TMP/$tgz" -C "$TMP/axe" --strip-components=1
for f in axe.min.js LICENSE; do
    [[ -f "$TMP/axe/$f" ]] || { echo "fetch.sh: missing in package: $f" >&2; exit 1; }
done

for old in "$VENDOR_DIR"/axe-core-*; do
    [[ -e "$old" && "$(basename "$old")" != "axe-core-$AXE_CORE_VERSION" ]] && rm -rf -- "$old"
done
dest="$VENDOR_DIR/axe-core-$AXE_CORE_VERSION"
mkdir -p "$dest"
install -m 0644 "$TMP/axe/axe.min.js" "$dest/axe.min.js"
install -m 0644 "$TMP/axe/LICENSE" "$dest/LICENSE"
echo "vendored axe-core $AXE_CORE_VERSION into $dest"
