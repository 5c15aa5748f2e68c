#!/usr/bin/env bash
# The installation: `cmake --install` of the build tree (what `make install`
# runs) into a fresh prefix, then the installed `lunar-nova serve`, started
# from an unrelated folder with neither --web nor --vendor, must serve the
# web UI and every module it loads (three.js included) from the prefix; the
# systemd unit must name the prefix; a moved prefix still works; DESTDIR
# stages the files without changing the paths they name. Without a three.js
# copy in the build tree (no npm ci), the installed server must say so.
set -u
bin=$1
build=$(cd "$(dirname "$bin")" && pwd)
src=${LN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=${LN_TEST_TMP:-/tmp}/e2e_install
rm -rf "$tmp" && mkdir -p "$tmp/cwd" "$tmp/home"
tmp=$(cd "$tmp" && pwd)
prefix=$tmp/prefix
. "$(dirname "$0")/lib.sh"


cmake=${CMAKE_COMMAND:-cmake}
if ! command -v "$cmake" >/dev/null || ! command -v node >/dev/null; then
    echo "cmake or node not found: skipping the installation test"
    exit 77
fi
have_three=0
[ -f "$build/vendor/three/build/three.module.js" ] && have_three=1

# --- cmake --install ----------------------------------------------------------
if "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    ok "cmake --install into a fresh prefix"
else
    bad "cmake --install into a fresh prefix"; sed 's/^/    /' "$tmp/install.log" | tail -20
fi
check "bin/lunar-nova is executable" test -x "$prefix/bin/lunar-nova"
for f in index.html app.js viewer.js style.css; do
    check "share/lunar-nova/web/$f" test -f "$prefix/share/lunar-nova/web/$f"
done
for f in README.md CHANGELOG.md KNOWN_ISSUES.md docs/operations/README.md \
         docs/operations/ROLLBACK.md; do
    check "share/doc/lunar-nova/$f" test -f "$prefix/share/doc/lunar-nova/$f"
done
check "no node_modules folder is installed" \
    test -z "$(find "$prefix" -name node_modules -o -name package-lock.json)"
if [ $have_three -eq 1 ]; then
    for f in LICENSE build/three.module.js build/three.core.js; do
        check "share/lunar-nova/vendor/three/$f" test -f "$prefix/share/lunar-nova/vendor/three/$f"
    done
    n=$(find "$prefix/share/lunar-nova/vendor" -type f | wc -l)
    [ "$n" -le 12 ] && ok "only the three.js files the UI loads ($n files)" \
        || bad "only the three.js files the UI loads ($n files)"
else
    echo "note: no three.js copy in $build/vendor (npm ci not run): the vendor checks expect it missing"
fi

# --- the systemd unit -----------------------------------------------------------
unit=$prefix/lib/systemd/system/lunar-nova.service
check "lib/systemd/system/lunar-nova.service" test -f "$unit"
want="ExecStart=$prefix/bin/lunar-nova serve --outputs /var/lib/lunar-nova/outputs"
grep -qxF "$want" "$unit" && ok "the unit's ExecStart names the prefix" \
    || bad "the unit's ExecStart names the prefix: $(grep ExecStart "$unit")"
grep '^ExecStart=' "$unit" | grep -q -- "--web" && bad "the unit needs no --web" \
    || ok "the unit needs no --web"
grep -q "@LN_" "$unit" && bad "every placeholder of the unit is filled" \
    || ok "every placeholder of the unit is filled"
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
check "the unit's Documentation= is installed ($doc)" test -f "$doc"
grep -qxF "$unit" "$build/install_manifest.txt" && ok "the unit is in install_manifest.txt" \
    || bad "the unit is in install_manifest.txt"
if command -v systemd-analyze >/dev/null; then
    if systemd-analyze verify "$unit" >"$tmp/verify.txt" 2>&1; then
        ok "systemd-analyze verify accepts the unit"
    else
        bad "systemd-analyze verify accepts the unit"; sed 's/^/    /' "$tmp/verify.txt"
    fi
fi

# --- the installed server ---------------------------------------------------------
# start_server BIN LOG: starts BIN serve on a free port from an unrelated
# folder, without TripoSR weights; sets pid and url (empty when it failed).
start_server() {
    local exe=$1 log=$2
    url=
    (cd "$tmp/cwd" && HOME=$tmp/home HF_HOME=$tmp/home HF_HUB_CACHE=$tmp/home \
        XDG_CACHE_HOME=$tmp/home exec "$exe" serve --port 0 --outputs "$tmp/outputs") \
        >/dev/null 2>"$log" &
    pid=$!
    wait_listening "$log" $pid 300 && return 0
    bad "the installed server starts"; sed 's/^/    /' "$log" | tail -10
    return 1
}
stop_server() {
    kill -TERM $pid 2>/dev/null
    wait $pid
    local rc=$?
    [ $rc -eq 0 ] && ok "the installed server stops cleanly" \
        || bad "the installed server stops cleanly (exit $rc)"
}
http_status() {
    node -e "fetch(process.argv[1]).then((r) => console.log(r.status), () => console.log(0))" "$1"
}
# expect_http WANT PATH
expect_http() {
    local got
    got=$(http_status "$url$2")
    [ "$got" = "$1" ] && ok "GET $2 is $1" || bad "GET $2 is $got, wanted $1"
}

if start_server "$prefix/bin/lunar-nova" "$tmp/server.log"; then
    ok "the installed server starts from another folder, with no --web or --vendor"
    grep -qF "web UI: $prefix/share/lunar-nova/web, three.js from $prefix/share/lunar-nova/vendor/three" \
        "$tmp/server.log" && ok "it serves the installed web UI and three.js" \
        || bad "it serves the installed web UI and three.js: $(grep 'web UI' "$tmp/server.log")"
    expect_http 200 /
    node -e "fetch(process.argv[1]).then((r) => r.text()).then((t) =>
        process.exit(t === require('fs').readFileSync(process.argv[2], 'utf8') ? 0 : 1))" \
        "$url/" "$prefix/share/lunar-nova/web/index.html" \
        && ok "/ is the installed index.html" || bad "/ is the installed index.html"
    if [ $have_three -eq 1 ]; then
        expect_http 200 /vendor/three/build/three.module.js
        grep -q "is missing, so the 3D viewer" "$tmp/server.log" \
            && bad "no warning about three.js: $(grep 'is missing' "$tmp/server.log")" \
            || ok "no warning about three.js"
        if node "$src/tests/tools/check-ui-modules.mjs" "$url" >"$tmp/modules.txt" 2>&1; then
            ok "every module the UI loads is served ($(tail -1 "$tmp/modules.txt"))"
        else
            bad "every module the UI loads is served"; sed 's/^/    /' "$tmp/modules.txt"
        fi
    else
        expect_http 404 /vendor/three/build/three.module.js
        grep -qF "$prefix/share/lunar-nova/vendor/three/build/three.module.js is missing" \
            "$tmp/server.log" && ok "the server names the missing three.js file" \
            || bad "the server names the missing three.js file"
    fi
    stop_server
fi

# --- a moved prefix -----------------------------------------------------------------
mv "$prefix" "$tmp/moved"
if start_server "$tmp/moved/bin/lunar-nova" "$tmp/server-moved.log"; then
    grep -qF "web UI: $tmp/moved/share/lunar-nova/web" "$tmp/server-moved.log" \
        && ok "a moved installation finds its files" || bad "a moved installation finds its files"
    expect_http 200 /
    [ $have_three -eq 1 ] && expect_http 200 /vendor/three/build/three.module.js
    stop_server
fi

# --- a build without three.js -------------------------------------------------------
# The copy step of the build (packaging/copy-three.cmake) without the npm
# package: a warning, success, nothing copied.
if "$cmake" -DLN_THREE_DIR="$tmp/no-node-modules/three" -DLN_VENDOR_DIR="$tmp/no-vendor" \
        -P "$src/packaging/copy-three.cmake" >"$tmp/copy.log" 2>&1; then
    ok "a build without node_modules/three goes on"
else
    bad "a build without node_modules/three goes on"; sed 's/^/    /' "$tmp/copy.log"
fi
tr -s ' \n' '  ' <"$tmp/copy.log" | grep -q "three.js not found.*npm ci" \
    && ok "it warns, naming npm ci" || bad "it warns, naming npm ci"
check "it copies nothing" test ! -e "$tmp/no-vendor"

# --- DESTDIR ------------------------------------------------------------------------
if DESTDIR=$tmp/stage "$cmake" --install "$build" --prefix /usr/local >"$tmp/stage.log" 2>&1; then
    ok "DESTDIR=... cmake --install --prefix /usr/local"
else
    bad "DESTDIR=... cmake --install --prefix /usr/local"; tail -20 "$tmp/stage.log"
fi
check "DESTDIR: the program is staged" test -x "$tmp/stage/usr/local/bin/lunar-nova"
check "DESTDIR: the web UI is staged" test -f "$tmp/stage/usr/local/share/lunar-nova/web/index.html"
grep -qxF "ExecStart=/usr/local/bin/lunar-nova serve --outputs /var/lib/lunar-nova/outputs" \
    "$tmp/stage/usr/local/lib/systemd/system/lunar-nova.service" \
    && ok "DESTDIR: the unit names /usr/local, not the staging folder" \
    || bad "DESTDIR: the unit names /usr/local, not the staging folder"

finish
