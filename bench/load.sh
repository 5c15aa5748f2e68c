#!/usr/bin/env bash
# HTTP load while the worker is busy: starts `lunar-nova serve` on a free
# loopback port with a fresh outputs folder, fills the job history with a
# few dozen small finished jobs, queues long generations (1024² photos at
# grid 512) so the worker computes throughout, then runs wrk against
# GET /health and GET /jobs and reports requests/s and latency p50/p99.
# Target: /health p99 under 10 ms while the worker is busy.
#
#   bench/load.sh                  # wrk -t2 -c200 -d15s, as in bench/README.md
#   LN_LOAD_SECONDS=5 bench/load.sh
#   LN_LOAD_BUSY=0 bench/load.sh   # the same with an idle worker, for comparison
#   LN_LOAD_SERVE_ARGS="--threads 1" bench/load.sh
#
# Only 127.0.0.1 is ever contacted. Needs wrk (Debian package wrk) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/lunar-nova
synth=build/ln-synth
seconds=${LN_LOAD_SECONDS:-15}
conns=${LN_LOAD_CONNECTIONS:-200}
n_history=${LN_LOAD_HISTORY:-40}
busy=${LN_LOAD_BUSY:-1}
read -r -a serve_args <<<"${LN_LOAD_SERVE_ARGS:-}"

if ! command -v wrk >/dev/null; then
    echo "load benchmark skipped: wrk is not installed (apt-get install wrk)"
    exit 0
fi
for f in "$bin" "$synth"; do
    [ -x "$f" ] || { echo "load.sh: $f not built (make build)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lunar-nova-load.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$synth" photo "$tmp/small.png" 64
"$synth" photo "$tmp/big.png" 1024

"$bin" serve --host 127.0.0.1 --port 0 --outputs "$tmp/outputs" --shutdown-grace 0 \
    "${serve_args[@]}" 2>"$tmp/server.log" &
pid=$!
url=
for _ in $(seq 1 300); do
    url=$(sed -n 's/.*Listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$tmp/server.log" | head -n1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "load.sh: the server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

submit() { # IMAGE RESOLUTION
    curl -sf -o /dev/null -F "image=@$1;type=image/png" -F "resolution=$2" -F faces=0 \
        "$url/generate"
}
field() { # JSON-PATH-ish: prints the number after "NAME": in /health
    curl -sf "$url/health" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# A history of small finished jobs, so /jobs has real records to list.
for _ in $(seq 1 "$n_history"); do submit "$tmp/small.png" 32; done
for _ in $(seq 1 600); do
    [ "$(field depth)" = 0 ] && [ "$(field running)" = 0 ] && break
    sleep 0.1
done
# Long generations: the worker stays busy through both runs.
if [ "$busy" = 1 ]; then
    for _ in $(seq 1 8); do submit "$tmp/big.png" 512; done
    for _ in $(seq 1 100); do [ "$(field running)" = 1 ] && break; sleep 0.1; done
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "load: wrk -t2 -c$conns -d${seconds}s --latency, $n_history finished jobs in the history, $([ "$busy" = 1 ] && echo "worker generating 1024² photos at grid 512" || echo "worker idle")${serve_args[*]:+, serve ${serve_args[*]}}"
echo
printf '%-14s %12s %10s %10s %10s %s\n' path requests/s p50 p99 max "worker busy (start/end)"
status=0
for path in /health "/jobs"; do
    busy0=$(field running)
    out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency "$url$path")
    busy1=$(field running)
    rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    max=$(echo "$out" | awk '$1 == "Latency" && NF >= 4 {print $4; exit}')
    errs=$(echo "$out" | grep -E 'Socket errors|Non-2xx' | tr -s ' ' | paste -sd';' || true)
    printf '%-14s %12s %10s %10s %10s %s/%s %s\n' "$path" "$rps" "$p50" "$p99" "$max" \
        "${busy0:-?}" "${busy1:-?}" "$errs"
    if [ "$path" = /health ]; then
        # wrk prints us, ms or s; the target is under 10 ms.
        ok=$(echo "$p99" | awk '{v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /[^m]s$/) v *= 1000;
                                 print (v < 10) ? "yes" : "no"}')
        [ "$ok" = yes ] || status=1
    fi
done
echo
if [ $status = 0 ]; then
    echo "target met: /health p99 under 10 ms while the worker is busy"
else
    echo "target missed: /health p99 is 10 ms or more while the worker is busy"
fi
