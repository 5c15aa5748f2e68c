# Shared by the end-to-end scripts (sourced after $tmp is set): counting
# checks, and the exit status ctest reads. A check that cannot run here
# (a tool missing) is a skip, never a pass: the script then exits 77, which
# ctest counts as skipped, after printing what did not run and why.
# rembg's models in the home folder of whoever runs the tests must not
# change what they see (background removal uses one when it is found).
export U2NET_HOME=/nonexistent/lunar-nova-tests/u2net
passed=0
failed=0
skipped=0
skip_reasons=()

# notes : what a helper left to say in $tmp/notes.txt (windows_lib.sh's
# retried Wine starts), printed before the next check's line.
notes() {
    [ -s "${tmp:-}/notes.txt" ] || return 0
    cat "$tmp/notes.txt"
    : >"$tmp/notes.txt"
}
ok() { notes; passed=$((passed + 1)); echo "ok   $1"; }
bad() { notes; failed=$((failed + 1)); echo "FAIL $1"; }
skip() { skipped=$((skipped + 1)); skip_reasons+=("$1"); echo "SKIP $1"; }

# check NAME CMD... : ok when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}

# expect_status STATUS NAME CMD... : runs CMD, checks the exit status; its
# output is left in $tmp/out.txt and $tmp/err.txt.
expect_status() {
    local want=$1 name=$2
    shift 2
    "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    local got=$?
    if [ "$got" -eq "$want" ]; then ok "$name"; else
        bad "$name (exit $got, wanted $want)"; sed 's/^/    /' "$tmp/err.txt" | head -5
    fi
}

# wait_listening LOG PID [TENTHS] : waits (TENTHS tenths of a second at
# most, default 150) until the server PID logs its "Listening on" line in
# LOG, or exits; sets $url (http://host:port) and $port; 0 when it listens.
wait_listening() {
    local log=$1 pid=$2
    url= port=
    for _ in $(seq "${3:-150}"); do
        url=$(sed -n 's|.*Listening on \(http://[^ "/]*\).*|\1|p' "$log" 2>/dev/null | head -1)
        if [ -n "$url" ]; then
            port=${url##*:}
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# validate GLB... : the Khronos glTF-Validator (tests/tools/validate-gltf.mjs,
# run from $src) must report no error and no warning; skipped when node or
# the npm package is missing.
validate() {
    if ! command -v node >/dev/null || [ ! -d "$src/node_modules/gltf-validator" ]; then
        skip "glTF-Validator on $(basename "$1") (node or node_modules/gltf-validator missing)"
    elif (cd "$src" && node tests/tools/validate-gltf.mjs "$@") >"$tmp/val.txt" 2>&1; then
        ok "glTF-Validator accepts $(basename "$1")"
    else
        bad "glTF-Validator rejects $1"; sed 's/^/    /' "$tmp/val.txt" | head -10
    fi
}

# finish : the summary line and the exit status (1 failed, 77 skipped).
finish() {
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ] || exit 1
    if [ "$skipped" -gt 0 ]; then
        echo "not run here:"
        printf '  %s\n' "${skip_reasons[@]}"
        exit 77
    fi
    exit 0
}
