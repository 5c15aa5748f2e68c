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
    build-essential cmake pkg-config git ccache
    libpng-dev libjpeg62-turbo-dev libwebp-dev libexif-dev
    libjansson-dev libmeshoptimizer-dev libcmocka-dev libmicrohttpd-dev
    libyaml-dev libopenblas-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
    libcurl4-openssl-dev ca-certificates nettle-dev libzip-dev unzip libpq-dev
    clang nodejs npm chromium
    libvulkan-dev libvulkan-volk-dev glslc
)
# The benchmark's reference implementation needs NumPy; the HTTP load
# benchmark (bench/load.sh) needs wrk.
if [ "$target" = bench ]; then
    packages+=(python3-numpy wrk)
fi

# The PostgreSQL job store's tests start a server of their own (initdb and
# pg_ctl in a temporary folder): Debian's postgresql.
if [ "$target" = test ]; then
    packages+=(postgresql)
fi

# The Vulkan backend's tests run on Mesa's lavapipe, the Vulkan driver on
# the CPU, with the Khronos validation layer on (docs/vulkan.md);
# vulkaninfo (vulkan-tools) shows which devices a machine has. The build
# itself needs only the headers, volk's source and glslc above: the
# program opens the Vulkan loader at run time, and no :arm64 package is
# needed (volk is compiled for each target).
if [ "$target" = test ]; then
    packages+=(mesa-vulkan-drivers vulkan-validationlayers vulkan-tools)
fi

# make test also runs the unit tests of an arm64 cross build under qemu-user
# (make test-arm64): Debian's cross compiler and the arm64 builds of the
# libraries, through multiarch (dpkg --add-architecture arm64, done below
# only when one of them is missing). Debian ships the cross compiler for
# x86-64 machines; on an arm64 machine the native tests are the arm64 ones.
if { [ "$target" = test ] || [ "$target" = test-arm64 ]; } &&
    [ "$(dpkg --print-architecture)" = amd64 ]; then
    packages+=(gcc-aarch64-linux-gnu qemu-user libc6:arm64
        libpng-dev:arm64 libjpeg62-turbo-dev:arm64 libwebp-dev:arm64 libexif-dev:arm64
        libjansson-dev:arm64 libmeshoptimizer-dev:arm64 libcmocka-dev:arm64
        libmicrohttpd-dev:arm64 libyaml-dev:arm64 libopenblas-dev:arm64
        libprotobuf-c-dev:arm64 libcurl4-openssl-dev:arm64 nettle-dev:arm64
        libzip-dev:arm64)
fi

# make windows cross-compiles with MinGW-w64 and cross-builds the libraries
# from Debian's source packages (packaging/windows/deps.sh: apt-get source
# needs dpkg-dev; libjpeg-turbo's SIMD needs nasm; meshoptimizer is C++;
# libexif's source has no configure script: autoreconf makes it);
# zlib is Debian's own Windows build. make test includes the Windows build
# under Wine (make test-windows), on x86-64 machines, where wine64 exists.
if [ "$target" = windows ] || [ "$target" = test-windows ] ||
    { [ "$target" = test ] && [ "$(dpkg --print-architecture)" = amd64 ]; }; then
    packages+=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 mingw-w64-tools
        libz-mingw-w64-dev dpkg-dev nasm autoconf automake libtool autopoint)
fi
# The Windows build's unit tests run under Wine (make test-windows): Debian's
# wine64 alone (/usr/lib/wine/wine64) is enough for console programs; the
# `wine` package's launcher and 32-bit half are not needed.
if { [ "$target" = test ] || [ "$target" = test-windows ]; } &&
    [ "$(dpkg --print-architecture)" = amd64 ]; then
    packages+=(wine64)
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
    if [[ " ${missing[*]}" == *:arm64* ]] &&
        ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "build.sh: adding the arm64 architecture (dpkg --add-architecture arm64)"
        "${sudo_cmd[@]}" dpkg --add-architecture arm64
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Web and test tooling from the committed lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "build.sh: installing npm packages from package-lock.json"
    npm ci --no-audit --no-fund --loglevel=error
fi

exec make "$target" "$@"
