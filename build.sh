#!/usr/bin/env bash
# Set-up and entry point on a fresh Debian 12 machine (run as root, or with
# sudo available): installs whatever build, test and web dependencies are
# missing, then runs the Makefile target given (run, test, bench, fuzz, build).
set -euo pipefail
cd "$(dirname "$0")"

target=${1:-run}
shift || true

# Debian packages the build, the tests and the benchmarks need.
packages=(
    build-essential cmake pkg-config git
    libpng-dev libjpeg62-turbo-dev libwebp-dev libexif-dev
    libjansson-dev libmeshoptimizer-dev libcmocka-dev libmicrohttpd-dev
    libyaml-dev libopenblas-dev
    clang nodejs npm chromium
)
# The benchmark's reference implementation needs NumPy; the HTTP load
# benchmark (bench/load.sh) needs wrk.
if [ "$target" = bench ]; then
    packages+=(python3-numpy wrk)
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        # A newer Node.js from elsewhere counts as present.
        if { [ "$p" = nodejs ] || [ "$p" = npm ]; } && command -v "${p/nodejs/node}" >/dev/null; then
            continue
        fi
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Web and test tooling from the committed lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "build.sh: installing npm packages from package-lock.json"
    npm ci --no-audit --no-fund --loglevel=error
fi

exec make "$target" "$@"
