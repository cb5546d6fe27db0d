#!/usr/bin/env bash
# Fetch the vendored front-end assets from the npm registry at pinned versions.
#
# Usage: bash static/vendor/fetch.sh      (needs node/npm; re-runnable)
#
# Only the files the app serves are kept, each with its version in the name,
# plus the licence of every package (we redistribute them). Older versioned
# copies are removed and versions.json is rewritten; the Python code reads
# versions.json to build the asset URLs.
set -euo pipefail

# ---- pinned versions: change them here and only here ----------------------
HTMX_VERSION="4.0.1"          # npm: htmx.org
UPLOT_VERSION="1.6.32"        # npm: uplot
SWAGGER_UI_VERSION="5.35.0"   # npm: swagger-ui-dist
# ---------------------------------------------------------------------------

VENDOR_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

command -v npm >/dev/null || { echo "fetch.sh: npm is required" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# fetch NAME VERSION -> prints the directory the tarball was extracted to
fetch() {
    local name="$1" version="$2" tgz dest
    tgz="$(cd "$TMP" && npm pack --silent --ignore-scripts "${name}@${version}" | tail -n 1)"
    [[ -f "$TMP/$tgz" ]] || { echo "fetch.sh: npm pack ${name}@${version} gave no tarball" >&2; exit 1; }
    dest="$TMP/${name}-${version}"
    mkdir -p "$dest"
    tar -xzf "$TMP/$tgz" -C "$dest" --strip-components=1
    echo "$dest"
}

# put SRC DEST : copy one file, failing loudly if the package layout changed
put() {
    [[ -f "$1" ]] || { echo "fetch.sh: missing in package: $1" >&2; exit 1; }
    install -m 0644 "$1" "$2"
}

# Drop trailing source-map references: we don't ship the .map files and
# browsers would log a 404 for each one.
strip_sourcemap() {
    sed -i -E \
        -e 's@/\*[#@] sourceMappingURL=[^*]*\*/[[:space:]]*$@@' \
        -e 's@//[#@] sourceMappingURL=[^[:space:]]*[[:space:]]*$@@' \
        "$1"
    if tail -n 3 "$1" | grep -q 'sourceMappingURL='; then
        echo "fetch.sh: could not strip sourceMappingURL from $1" >&2; exit 1
    fi
}

# prune PREFIX VERSION : remove PREFIX-<other version>* (files or dirs)
prune() {
    local prefix="$1" keep="$2" f base
    for f in "$VENDOR_DIR/$prefix"-[0-9]*; do
        [[ -e "$f" ]] || continue
        base="$(basename "$f")"
        if [[ "$base" != "$prefix-$keep" && "$base" != "$prefix-$keep."* ]]; then
            echo "removing old $base"
            rm -rf -- "$f"
        fi
    done
}

STAGE="$TMP/stage"
mkdir -p "$STAGE"

# htmx (+ WebSocket extension; in htmx 4 it is dist/ext/hx-ws.min.js)
htmx="$(fetch htmx.org "$HTMX_VERSION")"
put "$htmx/dist/htmx.min.js"        "$STAGE/htmx-$HTMX_VERSION.min.js"
put "$htmx/dist/ext/hx-ws.min.js"   "$STAGE/htmx-ext-ws-$HTMX_VERSION.min.js"
put "$htmx/LICENSE"                 "$STAGE/htmx-$HTMX_VERSION.LICENSE"

# uPlot
uplot="$(fetch uplot "$UPLOT_VERSION")"
put "$uplot/dist/uPlot.iife.min.js" "$STAGE/uPlot-$UPLOT_VERSION.iife.min.js"
put "$uplot/dist/uPlot.min.css"     "$STAGE/uPlot-$UPLOT_VERSION.min.css"
put "$uplot/LICENSE"                "$STAGE/uPlot-$UPLOT_VERSION.LICENSE"

# Swagger UI (files sit at the package root). Apache-2.0: ship LICENSE and
# NOTICE; the bundle's header points at swagger-ui-bundle.js.LICENSE.txt
# (licences of the code bundled into it), so ship that too.
swagger="$(fetch swagger-ui-dist "$SWAGGER_UI_VERSION")"
sw="$STAGE/swagger-ui-$SWAGGER_UI_VERSION"
mkdir -p "$sw"
put "$swagger/swagger-ui-bundle.js"             "$sw/swagger-ui-bundle.js"
put "$swagger/swagger-ui.css"                   "$sw/swagger-ui.css"
put "$swagger/swagger-ui-bundle.js.LICENSE.txt" "$sw/swagger-ui-bundle.js.LICENSE.txt"
put "$swagger/LICENSE"                          "$sw/LICENSE"
put "$swagger/NOTICE"                           "$sw/NOTICE"

for f in "$STAGE"/*.js "$STAGE"/*.css "$sw"/*.js "$sw"/*.css; do
    strip_sourcemap "$f"
done

cat > "$STAGE/versions.json" <<JSON
{"htmx": "$HTMX_VERSION", "uplot": "$UPLOT_VERSION", "swagger_ui": "$SWAGGER_UI_VERSION"}
JSON

# Everything fetched fine: install into static/vendor/.
prune htmx-ext-ws "$HTMX_VERSION"
prune htmx        "$HTMX_VERSION"
prune uPlot       "$UPLOT_VERSION"
prune swagger-ui  "$SWAGGER_UI_VERSION"
rm -rf -- "$VENDOR_DIR/swagger-ui-$SWAGGER_UI_VERSION"
cp -R "$STAGE"/. "$VENDOR_DIR"/
chmod 0755 "$VENDOR_DIR/swagger-ui-$SWAGGER_UI_VERSION"

echo "vendored into $VENDOR_DIR: htmx $HTMX_VERSION, uPlot $UPLOT_VERSION, swagger-ui $SWAGGER_UI_VERSION"
