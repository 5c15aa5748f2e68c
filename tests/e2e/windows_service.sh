#!/usr/bin/env bash
# `lunar-nova.exe service` under Wine's Service Control Manager (make
# test-windows; not part of the Linux ctest):
#   windows_service.sh WIN_EXE LINUX_BIN
# install (a second install is refused), `sc start` (the server answers
# /health and finishes a job), `sc stop` (the clean stop: STOPPED with exit
# code 0, the history on disk lists the job), uninstall (the service is
# gone). Wine's services live as long as its session: a waiting cmd.exe
# keeps one open for the test.
set -u
. "$(dirname "$0")/windows_lib.sh" e2e_windows_service "$@"
mkdir -p "$tmp/outputs"

command -v curl >/dev/null || { skip "the service test (curl missing)"; finish; }
# Into a file, not a pipe: Wine's service processes inherit the handles
# and would hold a pipe open for the whole session.
wine() {
    "$src/cmake/wine-run.sh" "$wine64" "$prefix" "$@" >"$tmp/wine.out" 2>&1
    tr -d '\r' <"$tmp/wine.out"
}
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port

wine "$exe" service uninstall >/dev/null # a leftover of an interrupted run
"$src/cmake/wine-run.sh" "$wine64" "$prefix" cmd.exe /c "ping -n 180 127.0.0.1 >nul" \
    >/dev/null 2>&1 &
keep=$!
# At the end: the service removed, then every process of this Wine prefix
# ended (the keep-alive and Wine's own service processes).
trap 'wine "$exe" service uninstall >/dev/null; kill $keep 2>/dev/null;
      WINEPREFIX=$prefix "${wine64%/*}/wineserver" -k 2>/dev/null' EXIT

out=$(wine "$exe" service install --host 127.0.0.1 --port "$port" --outputs "$(winpath "$tmp/outputs")")
echo "$out" | grep -q "service LunarNova installed" && ok "service install" \
    || bad "service install: $out"
out=$(wine "$exe" service install; echo "rc=$?")
echo "$out" | grep -q "exists already" && ok "a second install is refused" \
    || bad "a second install is refused: $out"

"$synth" photo "$tmp/mug.png" 256 || { bad "ln-synth photo"; finish; }
wine sc.exe start LunarNova >/dev/null
up=0
for _ in $(seq 300); do
    curl -sf "$url/health" >"$tmp/health.json" 2>/dev/null && { up=1; break; }
    sleep 0.2
done
[ $up = 1 ] && grep -q '"status":"ok"' "$tmp/health.json" && ok "sc start: the service answers /health" \
    || bad "sc start: the service answers /health"
curl -sf -F image=@"$tmp/mug.png" -F resolution=64 "$url/generate" >"$tmp/job.json"
id=$(grep -o '"id":"[0-9a-f]*"' "$tmp/job.json" | head -1 | cut -d'"' -f4)
status=
for _ in $(seq 240); do
    [ -n "$id" ] || break
    status=$(curl -sf "$url/jobs/$id" | grep -o '"status":"[a-z]*"' | head -1 | cut -d'"' -f4)
    case $status in succeeded | failed | canceled) break ;; esac
    sleep 0.5
done
[ "$status" = succeeded ] && ok "a job succeeds in the service" \
    || bad "a job succeeds in the service (status ${status:-none})"

wine sc.exe stop LunarNova >/dev/null
state=
for _ in $(seq 150); do
    state=$(wine sc.exe query LunarNova | grep -o 'STATE *: *[0-9]' | grep -o '[0-9]$')
    [ "$state" = 1 ] && break
    sleep 0.2
done
[ "$state" = 1 ] && ok "sc stop: the service stops" || bad "sc stop: the service stops (state $state)"
wine sc.exe query LunarNova | grep -q 'WIN32_EXIT_CODE *: *0 ' && ok "... with exit code 0" \
    || bad "... with exit code 0"
curl -sf -m 2 "$url/health" >/dev/null && bad "nothing answers after the stop" \
    || ok "nothing answers after the stop"
[ -n "$id" ] && grep -q "\"$id\"" "$tmp/outputs/jobs.json" 2>/dev/null \
    && ok "the history on disk lists the job" || bad "the history on disk lists the job"

out=$(wine "$exe" service uninstall)
echo "$out" | grep -q "service LunarNova removed" && ok "service uninstall" \
    || bad "service uninstall: $out"
out=$(wine "$exe" service uninstall)
echo "$out" | grep -q "there is no service named LunarNova" && ok "the service is gone" \
    || bad "the service is gone: $out"
finish
