#!/usr/bin/env bash
# `lunar-nova.exe service` under Wine's Service Control Manager (make
# test-windows; not part of the Linux ctest):
#   windows_service.sh WIN_EXE LINUX_BIN
# install (a second install is refused; the event source LunarNova is in
# the registry), `sc start` (START_PENDING until the server listens, then
# RUNNING; it answers /health and finishes a job), `sc stop` (the clean
# stop: STOPPED with exit code 0, the history on disk lists the job; the
# log file, lunar-nova.log in the outputs folder by default, has the start
# and stop lines; the event log got them), uninstall (the service and its
# event source are gone), a service installed with --log-file (its log
# there), and a service with a bad option (STOPPED with exit code 2, an
# error in the event log). Wine's services live as long as
# its session: a waiting cmd.exe keeps one open for the test. Wine keeps
# no event log that can be read back: its ReportEventW writes each entry
# to its trace channel "eventlog", which the keep-alive (the session's
# first process, whose output Wine's service processes inherit) sends to
# session.log.
set -u
. "$(dirname "$0")/windows_lib.sh" e2e_windows_service "$@"
mkdir -p "$tmp/outputs"

command -v curl >/dev/null || { skip "the service test (curl missing)"; finish; }
# Into a file, not a pipe: Wine's service processes inherit the handles
# and would hold a pipe open for the whole session (wine_run: a start that
# Wine ends silently is tried again).
wine() {
    wine_run "$@" >"$tmp/wine.out" 2>&1
    tr -d '\r' <"$tmp/wine.out"
}
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port

# A fresh Wine session whose first process is the keep-alive.
WINEPREFIX=$prefix "${wine64%/*}/wineserver" -k 2>/dev/null
WINEPREFIX=$prefix "${wine64%/*}/wineserver" -w 2>/dev/null
LN_WINEDEBUG=-all,+eventlog "$src/cmake/wine-run.sh" "$wine64" "$prefix" cmd.exe /c \
    "ping -n 180 127.0.0.1 >nul" >/dev/null 2>"$tmp/session.log" &
keep=$!
sleep 2
wine "$exe" service uninstall >/dev/null # a leftover of an interrupted run
evkey='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\LunarNova'
# events PATTERN : the event log entries (Wine's trace) matching PATTERN.
events() { tr -d '\r' <"$tmp/session.log" | grep "eventlog:ReportEventW" | grep -E "$1"; }
# state : the service's state number (1 stopped, 2 start pending, 4 running).
state() { wine sc.exe query LunarNova | grep -o 'STATE *: *[0-9]' | grep -o '[0-9]$'; }
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
wine reg.exe query "$evkey" | grep -q 'TypesSupported *REG_DWORD *0x7' \
    && ok "the event source LunarNova is registered" || bad "the event source LunarNova is registered"

"$synth" photo "$tmp/mug.png" 256 || { bad "ln-synth photo"; finish; }
wine sc.exe start LunarNova >/dev/null
up=0
for _ in $(seq 300); do
    curl -sf "$url/health" >"$tmp/health.json" 2>/dev/null && { up=1; break; }
    sleep 0.2
done
[ $up = 1 ] && grep -q '"status":"ok"' "$tmp/health.json" && ok "sc start: the service answers /health" \
    || bad "sc start: the service answers /health"
[ "$(state)" = 4 ] && ok "... and is RUNNING" || bad "... and is RUNNING (state $(state))"
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
st=
for _ in $(seq 150); do
    st=$(state)
    [ "$st" = 1 ] && break
    sleep 0.2
done
[ "$st" = 1 ] && ok "sc stop: the service stops" || bad "sc stop: the service stops (state $st)"
wine sc.exe query LunarNova | grep -q 'WIN32_EXIT_CODE *: *0 ' && ok "... with exit code 0" \
    || bad "... with exit code 0"
curl -sf -m 2 "$url/health" >/dev/null && bad "nothing answers after the stop" \
    || ok "nothing answers after the stop"
[ -n "$id" ] && grep -q "\"$id\"" "$tmp/outputs/jobs.json" 2>/dev/null \
    && ok "the history on disk lists the job" || bad "the history on disk lists the job"
log=$tmp/outputs/lunar-nova.log
grep -q "info  Lunar Nova .* starting" "$log" 2>/dev/null && grep -q "Listening on $url" "$log" &&
    grep -q "service stop received" "$log" && grep -q "info  stopped$" "$log" &&
    ! grep -q $'\r' "$log" && ok "the log file outputs\\lunar-nova.log has the start and stop lines" \
    || bad "the log file outputs\\lunar-nova.log has the start and stop lines"
if ! tr -d '\r' <"$tmp/session.log" | grep -q "eventlog:"; then
    skip "the event log entries (this Wine traces no eventlog channel)"
else
    events "trace:eventlog:ReportEventW L\"Listening on $url\"" >/dev/null &&
        events 'trace:eventlog:ReportEventW L"stopped"' >/dev/null &&
        ok "the event log has the start and stop" || bad "the event log has the start and stop"
fi

out=$(wine "$exe" service uninstall)
echo "$out" | grep -q "service LunarNova removed" && ok "service uninstall" \
    || bad "service uninstall: $out"
out=$(wine "$exe" service uninstall)
echo "$out" | grep -q "there is no service named LunarNova" && ok "the service is gone" \
    || bad "the service is gone: $out"
wine reg.exe query "$evkey" | grep -q TypesSupported && bad "the event source is gone" \
    || ok "the event source is gone"

# install passes --log-file on (a path with a space: quoted on the
# service's command line), and that file replaces the default.
rm -f "$tmp/outputs/lunar-nova.log"
wine "$exe" service install --host 127.0.0.1 --port "$port" --outputs "$(winpath "$tmp/outputs")" \
    --log-file "$(winpath "$tmp/service log.txt")" >/dev/null
wine sc.exe start LunarNova >/dev/null
for _ in $(seq 300); do
    curl -sf "$url/health" >/dev/null 2>&1 && break
    sleep 0.2
done
wine sc.exe stop LunarNova >/dev/null
for _ in $(seq 150); do
    [ "$(state)" = 1 ] && break
    sleep 0.2
done
grep -q "Listening on $url" "$tmp/service log.txt" 2>/dev/null && grep -q "info  stopped$" "$tmp/service log.txt" &&
    [ ! -e "$tmp/outputs/lunar-nova.log" ] && ok "service install --log-file: the log goes there" \
    || bad "service install --log-file: the log goes there"
wine "$exe" service uninstall >/dev/null

# A service that cannot start: STOPPED with serve's exit status 2, and an
# error entry in the event log says so.
wine "$exe" service install --workers 0 --outputs "$(winpath "$tmp/outputs")" >/dev/null
wine sc.exe start LunarNova >/dev/null
for _ in $(seq 100); do
    st=$(state)
    [ "$st" = 1 ] && break
    sleep 0.2
done
wine sc.exe query LunarNova | grep -q 'SERVICE_EXIT_CODE *: *2 ' \
    && ok "a bad option: the service stops with exit code 2" \
    || bad "a bad option: the service stops with exit code 2 (state $st)"
if tr -d '\r' <"$tmp/session.log" | grep -q "eventlog:"; then
    events 'err:eventlog:ReportEventW L"lunar-nova serve ended with exit status 2' >/dev/null \
        && ok "... and the event log has the error" || bad "... and the event log has the error"
fi
wine "$exe" service uninstall >/dev/null
finish
