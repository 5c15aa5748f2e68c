#!/usr/bin/env bash
# A smoke test of the Windows build's `lunar-nova.exe serve` under Wine
# (make test-windows; not part of the Linux ctest):
#   windows_serve.sh WIN_EXE LINUX_BIN
# The server starts on a free port of 127.0.0.1 with an outputs folder of
# its own; then GET /health, POST /generate with a PNG (from the Linux
# build's ln-synth), the job waited for, its GLB downloaded; the process is
# killed (as a crash or a closed console would end it), started again on
# the same folder, and the job must still be there with its GLB. curl is
# the client.
set -u
. "$(dirname "$0")/windows_lib.sh" e2e_windows_serve "$@"

command -v curl >/dev/null || { skip "the HTTP smoke test (curl missing)"; finish; }
server=
# start N : lunar-nova.exe serve in the background, stderr in serve-N.log;
# sets $url from its "Listening on" line (60 s at most). A start that Wine
# ends with status 1 before the server wrote a line is tried again, at
# most twice, and said (as wine_run does for programs that end).
start() {
    local n rc
    for n in 1 2 3; do
        (cd "$tmp" && exec "$src/cmake/wine-run.sh" "$wine64" "$prefix" "$exe" serve \
            --host 127.0.0.1 --port 0 --outputs outputs 2>"serve-$1.log" >/dev/null) &
        server=$!
        url=
        for _ in $(seq 600); do
            url=$(tr -d '\r' <"$tmp/serve-$1.log" 2>/dev/null | grep -o 'Listening on http://[^ ]*' | cut -c14-)
            [ -n "$url" ] && break
            kill -0 "$server" 2>/dev/null || break
            sleep 0.1
        done
        [ -n "$url" ] && break
        kill -0 "$server" 2>/dev/null && break
        wait "$server"
        rc=$?
        [ "$rc" -eq 1 ] && [ ! -s "$tmp/serve-$1.log" ] && [ "$n" -lt 3 ] || break
        echo "# the server under Wine exited with 1 before writing a line (start $n of 3); starting it again"
    done
    if [ -n "$url" ]; then ok "serve $1 listens ($url)"; else
        bad "serve $1 listens"; sed 's/^/    /' "$tmp/serve-$1.log" | tail -5
    fi
}
stop() {
    [ -n "$server" ] && kill -KILL "$server" 2>/dev/null && wait "$server" 2>/dev/null
    server=
}
trap stop EXIT

"$synth" photo "$tmp/mug.png" 256 || { bad "ln-synth photo"; finish; }

start 1
[ -n "$url" ] || finish
curl -sf "$url/health" >"$tmp/health.json" && grep -q '"status":"ok"' "$tmp/health.json" \
    && ok "GET /health" || bad "GET /health: $(cat "$tmp/health.json")"
curl -sf -F image=@"$tmp/mug.png" -F resolution=64 "$url/generate" >"$tmp/job.json" \
    && ok "POST /generate" || bad "POST /generate: $(cat "$tmp/job.json")"
id=$(grep -o '"id":"[0-9a-f]*"' "$tmp/job.json" | head -1 | cut -d'"' -f4)
[ -n "$id" ] || finish
status=
for _ in $(seq 240); do
    status=$(curl -sf "$url/jobs/$id" | grep -o '"status":"[a-z]*"' | head -1 | cut -d'"' -f4)
    case $status in succeeded | failed | canceled) break ;; esac
    sleep 0.5
done
[ "$status" = succeeded ] && ok "the job succeeds" || bad "the job succeeds (status $status)"
glb_ok() {
    curl -sf -o "$tmp/$1.glb" "$url/jobs/$id/model.glb" &&
        [ "$(head -c 4 "$tmp/$1.glb")" = glTF ]
}
glb_ok first && ok "GET model.glb" || bad "GET model.glb"

stop
start 2
[ -n "$url" ] || finish
curl -sf "$url/jobs/$id" | grep -q '"status":"succeeded"' && ok "the job survives a restart" \
    || bad "the job survives a restart"
curl -sf "$url/jobs" | grep -q "\"$id\"" && ok "GET /jobs lists it" || bad "GET /jobs lists it"
glb_ok again && cmp -s "$tmp/first.glb" "$tmp/again.glb" && ok "the same GLB after the restart" \
    || bad "the same GLB after the restart"
stop
finish
