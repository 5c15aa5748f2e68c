#!/usr/bin/env bash
# The PostgreSQL job queue's claim throughput (bench-pg-claims) against a
# PostgreSQL of its own: initdb into a temporary folder, a server on a free
# port of 127.0.0.1 (as the user postgres when run as root), stopped and
# removed at the end. Durable settings (fsync on), as a real server.
#   bench/pg_claims.sh [BUILD_DIR] [JOBS]
set -euo pipefail
build=${1:-build}
jobs=${2:-2000}
bindir=$(pg_config --bindir)
dir=$(mktemp -d /tmp/ln-bench-pg-XXXXXX)
as=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"${as[@]}" "$bindir/initdb" -D "$dir/data" -U lunar --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
"$build/bench/bench-pg-claims" "host=127.0.0.1 port=$port user=lunar dbname=postgres" "$jobs"
