#!/usr/bin/env bash
# Cross-builds the libraries Lunar Nova links, for 64-bit Windows, from
# Debian's own source packages (apt-get source), with Debian's MinGW-w64
# compilers. Nothing third-party enters the repository: sources, builds
# and the installed prefix live in a cache folder,
#   LN_WIN_DEPS (default ${XDG_CACHE_HOME:-$HOME/.cache}/lunar-nova/mingw)
#     src/<library>/    what apt-get source unpacked
#     build/<library>/  out-of-tree builds
#     prefix/           headers, static libraries, .pc and CMake files
#     stamps/<library>  the Debian source version built, and how long it took
#     logs/<library>.log
# A library whose stamp names the source version apt offers now is skipped
# (after changing how a library is built here, delete its stamp).
# zlib is Debian's libz-mingw-w64-dev (/usr/x86_64-w64-mingw32).
#
# Every library is built static: lunar-nova.exe then needs no DLL besides
# Windows' own, and the zip needs no search for what to ship.
#
# Use: packaging/windows/deps.sh [library...]   (default: all of them)
#   JOBS=N      parallel jobs of each build (default: nproc)
#   LN_WIN_OPENBLAS_LIST="..."  OpenBLAS kernels for DYNAMIC_LIST (below)
# Needs (./build.sh windows installs them): gcc-mingw-w64-x86-64
# g++-mingw-w64-x86-64 mingw-w64-tools libz-mingw-w64-dev dpkg-dev nasm
# autoconf automake libtool autopoint cmake make pkg-config; adding the
# deb-src entry and apt-get update need root.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${LN_WIN_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/lunar-nova/mingw}
host=x86_64-w64-mingw32
jobs=${JOBS:-$(nproc)}
prefix=$cache/prefix
toolchain=$repo/cmake/$host.cmake

# OpenBLAS with DYNAMIC_ARCH picks its kernels at run time, like our own
# kernel sets. All of its ~20 x86-64 kernel sets take hours to build here;
# this list has the two that matter for sgemm on Windows 10 machines, and
# PRESCOTT (SSE3) is always built as the fallback for any other x86-64 CPU:
# HASWELL (AVX2/FMA; OpenBLAS also uses it for Zen and for the unlisted
# Intel client CPUs after Haswell) and SKYLAKEX (AVX-512; also Cooper Lake,
# Ice Lake, Sapphire Rapids). CPUs with AVX but no AVX2 (Sandy Bridge, Ivy
# Bridge) fall back to PRESCOTT: add SANDYBRIDGE (or ZEN, NEHALEM) to
# LN_WIN_OPENBLAS_LIST for them, at about a third more build time each.
openblas_list=${LN_WIN_OPENBLAS_LIST:-HASWELL SKYLAKEX}

# library:Debian source package, in build order (the longest last)
libraries=(
    libpng:libpng1.6
    libjpeg-turbo:libjpeg-turbo
    libwebp:libwebp
    libexif:libexif
    jansson:jansson
    meshoptimizer:meshoptimizer
    cmocka:cmocka
    libmicrohttpd:libmicrohttpd
    libyaml:libyaml
    protobuf-c:protobuf-c
    nettle:nettle
    curl:curl
    libzip:libzip
    openblas:openblas
)

say() { echo "deps.sh: $*"; }
die() { echo "deps.sh: $*" >&2; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
    sudo_cmd=(sudo)
fi

for tool in $host-gcc-posix $host-g++-posix $host-ar $host-ranlib dpkg-source \
    cmake make pkg-config nasm autoreconf; do
    command -v "$tool" >/dev/null ||
        die "$tool not found (./build.sh windows installs the cross tools)"
done
[ -f /usr/$host/lib/libz.a ] ||
    die "zlib for Windows not found (apt-get install libz-mingw-w64-dev)"

# apt-get source needs a deb-src entry. Debian 12's images have only the
# binary one (debian.sources); ours repeats its addresses for the sources.
ensure_deb_src() {
    if grep -qs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources ||
        grep -qs '^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
        return
    fi
    local list=/etc/apt/sources.list.d/lunar-nova-src.sources
    say "adding Debian's source packages to apt ($list)"
    local tmp
    tmp=$(mktemp)
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$tmp"
    else
        cat >"$tmp" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    "${sudo_cmd[@]}" install -m 644 "$tmp" "$list"
    rm -f "$tmp"
    "${sudo_cmd[@]}" apt-get update -qq
}

# The versions of a source package apt knows, newest first (epochs kept:
# apt-get source wants them). A mirror may lag behind the index it serves
# (a fresh security update's files missing): fetch_source then falls back
# to the next version.
source_versions() {
    local all=() v i j t
    mapfile -t all < <(apt-cache showsrc --only-source "$1" 2>/dev/null |
        awk '/^Version:/ {print $2}' | sort -u)
    [ ${#all[@]} -gt 0 ] ||
        die "apt has no source package $1 (is the deb-src entry there? apt-get update)"
    for ((i = 1; i < ${#all[@]}; i++)); do
        for ((j = i; j > 0; j--)); do
            dpkg --compare-versions "${all[j]}" gt "${all[j - 1]}" || break
            t=${all[j]}; all[j]=${all[j - 1]}; all[j - 1]=$t
        done
    done
    printf '%s\n' "${all[@]}"
}

# Unpacks the newest downloadable version of a source package into
# src/<library>/ and sets fetched (its version) and tree (the source tree).
fetch_source() {
    local lib=$1 src=$2 dir=$cache/src/$1 v
    shift 2
    fetched=
    tree=
    for v in "$@"; do
        if [ "$(cat "$dir/.version" 2>/dev/null)" = "$v" ]; then
            fetched=$v
            break
        fi
        rm -rf "$dir.new"
        mkdir -p "$dir.new"
        if (cd "$dir.new" && apt-get source --only-source -qq "$src=$v" \
            >>"$cache/logs/$lib.log" 2>&1); then
            echo "$v" >"$dir.new/.version"
            rm -rf "$dir"
            mv "$dir.new" "$dir"
            fetched=$v
            break
        fi
        rm -rf "$dir.new"
        say "$lib: $src $v could not be downloaded, trying an older version"
    done
    [ -n "$fetched" ] || die "apt-get source $src failed (see $cache/logs/$lib.log)"
    tree=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name "$src-*" | head -1)
    [ -n "$tree" ] || die "no source tree for $src in $dir"
}

# Environment of an autotools cross build into the prefix.
cross_env=(
    CC="$host-gcc-posix" CXX="$host-g++-posix" AR="$host-ar" RANLIB="$host-ranlib"
    STRIP="$host-strip" RC="$host-windres" WINDRES="$host-windres"
    CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib"
    CFLAGS="-O2" CXXFLAGS="-O2"
    PKG_CONFIG="pkg-config"
    PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig:$prefix/share/pkgconfig:/usr/$host/lib/pkgconfig"
    PKG_CONFIG_PATH=""
)

# A source package made from a git snapshot has no configure script
# (Debian's own build runs dh_autoreconf): make it, as Debian does.
autotools() { # source tree, configure arguments...
    local tree=$1
    shift
    if [ ! -x "$tree/configure" ]; then
        (cd "$tree" && autoreconf -fi) || return
    fi
    (cd "$build" && env "${cross_env[@]}" "$tree/configure" --host=$host \
        --build="$(gcc -dumpmachine)" --prefix="$prefix" --libdir="$prefix/lib" \
        --enable-static --disable-shared "$@" &&
        make -j"$jobs" && make install)
}

cmake_build() { # source tree, cmake arguments...
    local tree=$1
    shift
    # An absolute libdir: libjpeg-turbo resolves a relative one against the
    # working directory, not the prefix.
    (cd "$build" && env LN_WIN_DEPS="$cache" cmake -S "$tree" -B "$build" \
        -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR="$prefix/lib" \
        -DBUILD_SHARED_LIBS=OFF "$@" &&
        cmake --build "$build" -j "$jobs" && cmake --install "$build")
}

build_libpng() {
    autotools "$1" --disable-tests --without-binconfigs
}

# SIMD through nasm, as in Debian's own build; only libjpeg (not TurboJPEG).
build_libjpeg-turbo() {
    cmake_build "$1" -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DWITH_TURBOJPEG=OFF \
        -DWITH_SIMD=ON -DCMAKE_ASM_NASM_COMPILER=nasm -DWITH_JPEG8=OFF
}

build_libwebp() {
    autotools "$1" --disable-gl --disable-sdl --disable-png --disable-jpeg \
        --disable-tiff --disable-gif --disable-wic --enable-libwebpmux \
        --enable-libwebpdemux
}

build_libexif() {
    autotools "$1" --disable-nls --disable-docs
}

build_jansson() {
    cmake_build "$1" -DJANSSON_BUILD_DOCS=OFF -DJANSSON_EXAMPLES=OFF \
        -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_BUILD_SHARED_LIBS=OFF
}

build_meshoptimizer() {
    cmake_build "$1" -DMESHOPT_BUILD_SHARED_LIBS=OFF -DMESHOPT_BUILD_DEMO=OFF \
        -DMESHOPT_BUILD_TOOLS=OFF -DMESHOPT_BUILD_GLTFPACK=OFF
}

build_cmocka() {
    cmake_build "$1" -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF
}

# Plain HTTP: the server sits behind the operator's TLS proxy, as on Linux.
# Windows' own threads: 0.9.75's configure looks for them only with
# --with-threads=auto (=w32 fails), and auto prefers them on native Windows.
# Its .pc file names no private library, but a static libmicrohttpd needs
# Winsock (ws2_32): added, as libcurl's lists it.
build_libmicrohttpd() {
    autotools "$1" --disable-https --without-gnutls --disable-curl --disable-doc \
        --disable-examples --disable-tools --with-threads=auto &&
        sed -i 's|^Libs.private:.*|& -lws2_32|' "$prefix/lib/pkgconfig/libmicrohttpd.pc"
}

# yaml.h marks its functions __declspec(dllimport) on Windows unless
# YAML_DECLARE_STATIC is defined: the .pc file says so for the static library.
build_libyaml() {
    autotools "$1" &&
        sed -i 's|^Cflags: .*|& -DYAML_DECLARE_STATIC|' "$prefix/lib/pkgconfig/yaml-0.1.pc"
}

# Only cblas_sgemm is used: no LAPACK, no Fortran, single precision only.
# Single-threaded (USE_THREAD=0): src/nn runs OpenBLAS on one thread per
# call anyway (ln__blas_single_thread) and spreads the work over its own
# threads; USE_LOCKING=1 makes such a build safe to call from several
# threads at once, NUM_THREADS=64 sizes its buffer table for 64 of them.
# (0.3.21's Windows thread server also does not compile with BUILD_SINGLE:
# it names DGEMM_P and the like.) NO_CBLAS is left undefined: its
# Makefiles test whether it is set, not its value, and would then leave
# out cblas.h. DYNAMIC_ARCH with the kernel list above. OpenBLAS's own
# Makefiles (not autotools); getarch runs on the host (HOSTCC).
#
# Debian's MinGW-w64 GCC says "12-posix" to -dumpversion, which OpenBLAS's
# version checks (c_check, Makefile.system) read as older than 4.6: they
# would drop every AVX2 and AVX-512 kernel. A wrapper answers with the
# numeric version (from __GNUC__ and the like), and NO_AVX2 and OLDGCC are
# emptied on the command line (the generated Makefile.conf still set them).
# MAKE_NB_JOBS: getarch would otherwise run the inner makes with
# -j<number of cores>.
build_openblas() {
    local tree=$1
    rm -rf "$build"
    cp -a "$tree" "$build"
    local cc=$build/ln-bin/$host-gcc version
    version=$(echo __GNUC__.__GNUC_MINOR__.__GNUC_PATCHLEVEL__ |
        $host-gcc-posix -E -P -x c - | tr -d ' ')
    mkdir -p "$build/ln-bin"
    # shellcheck disable=SC2016 # $1 and $@ are the wrapper's own
    printf '#!/bin/sh\ncase "$1" in -dumpversion | -dumpfullversion) echo %s; exit 0 ;; esac\nexec %s "$@"\n' \
        "$version" "$host-gcc-posix" >"$cc"
    chmod +x "$cc"
    local args=(
        CC="$cc" AR="$host-ar" RANLIB="$host-ranlib" HOSTCC=gcc CROSS_SUFFIX="$host-"
        MAKE_NB_JOBS="$jobs" NO_AVX2= OLDGCC=
        OSNAME=WINNT CROSS=1 BINARY=64 TARGET=GENERIC
        DYNAMIC_ARCH=1 DYNAMIC_LIST="$openblas_list"
        NOFORTRAN=1 NO_LAPACK=1 NO_LAPACKE=1 BUILD_SINGLE=1
        NO_SHARED=1 USE_THREAD=0 USE_LOCKING=1 NUM_THREADS=64 NO_AFFINITY=1
        NO_WARMUP=1 USE_OPENMP=0 PREFIX="$prefix"
    )
    # "libs" only: Debian's patched Makefile's "netlib" target adds the
    # build machine's own LAPACK (liblapack_pic.a), which we neither have
    # nor want. The .pc file names Windows' advapi32 the MSVC way.
    (cd "$build" && make -j"$jobs" "${args[@]}" libs &&
        make "${args[@]}" install) &&
        sed -i 's|-defaultlib:\([A-Za-z0-9_]*\)|-l\1|g' "$prefix/lib/pkgconfig/openblas.pc"
}

# The runtime library only: protoc-c (a C++ program over libprotoc) runs on
# the build machine, from Debian's protobuf-c-compiler.
build_protobuf-c() {
    autotools "$1" --disable-protoc
}

# Windows' own TLS (Schannel) and certificate store, no OpenSSL; the
# features the model downloads need (HTTP(S), redirects, zlib).
# Only the hashes are used (src/core/ln_hash.c): no public-key part, so no
# GMP; no documentation, no assembler (the C versions are enough for
# checksums of downloads).
build_nettle() {
    autotools "$1" --disable-public-key --disable-documentation --disable-assembler \
        --disable-openssl
}

build_curl() {
    autotools "$1" --with-schannel --without-openssl --without-gnutls \
        --without-libpsl --without-brotli --without-zstd --without-nghttp2 \
        --without-nghttp3 --without-ngtcp2 --without-libidn2 --without-librtmp \
        --without-libssh2 --without-libgsasl --with-zlib=/usr/$host \
        --disable-ldap --disable-ldaps --disable-manual --disable-docs \
        --enable-ipv6 --enable-sspi
}

# The OBJ download's zip (src/mesh/ln_export_zip.c): deflate through
# Debian's Windows zlib, no other codecs, no encryption, no tools. A
# relative libdir: libzip.pc joins it to the prefix.
build_libzip() {
    cmake_build "$1" -DCMAKE_INSTALL_LIBDIR=lib -DENABLE_BZIP2=OFF -DENABLE_LZMA=OFF -DENABLE_ZSTD=OFF \
        -DENABLE_COMMONCRYPTO=OFF -DENABLE_GNUTLS=OFF -DENABLE_MBEDTLS=OFF \
        -DENABLE_OPENSSL=OFF -DENABLE_WINDOWS_CRYPTO=OFF -DBUILD_TOOLS=OFF \
        -DBUILD_REGRESS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_DOC=OFF \
        -DZLIB_INCLUDE_DIR=/usr/$host/include -DZLIB_LIBRARY=/usr/$host/lib/libz.a
}

mkdir -p "$cache/src" "$cache/build" "$cache/stamps" "$cache/logs" "$prefix"
ensure_deb_src

wanted=("$@")
for entry in "${libraries[@]}"; do
    lib=${entry%%:*}
    src=${entry#*:}
    if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $lib "* ]]; then
        continue
    fi
    mapfile -t versions < <(source_versions "$src")
    [ ${#versions[@]} -gt 0 ] || die "no version of $src found"
    stamp=$cache/stamps/$lib
    built=$(head -1 "$stamp" 2>/dev/null || true)
    if [ "$built" = "$src ${versions[0]}" ]; then
        say "$lib: $src ${versions[0]} already built"
        continue
    fi
    : >"$cache/logs/$lib.log"
    fetch_source "$lib" "$src" "${versions[@]}"
    if [ "$built" = "$src $fetched" ]; then
        say "$lib: $src $fetched already built"
        continue
    fi
    say "$lib: building $src $fetched"
    rm -f "$stamp"
    build=$cache/build/$lib
    rm -rf "$build"
    mkdir -p "$build"
    start=$(date +%s)
    if ! "build_$lib" "$tree" >>"$cache/logs/$lib.log" 2>&1; then
        tail -30 "$cache/logs/$lib.log" >&2
        die "$lib failed to build (whole log: $cache/logs/$lib.log)"
    fi
    seconds=$(($(date +%s) - start))
    printf '%s %s\nbuilt in %d s with %d jobs on %s\n' "$src" "$fetched" "$seconds" \
        "$jobs" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$stamp"
    say "$lib: built in $seconds s"
done

# One program linked against all of them, as lunar-nova.exe will be.
if [ ${#wanted[@]} -eq 0 ]; then
    say "linking packaging/windows/probe.c against every library"
    # shellcheck disable=SC2046
    env "${cross_env[@]}" $host-g++-posix -x c -std=c11 -O2 -static -o "$cache/probe.exe" \
        "$repo/packaging/windows/probe.c" $(env "${cross_env[@]}" pkg-config --static \
        --cflags --libs libpng libjpeg libwebp libexif jansson libmicrohttpd yaml-0.1 \
        openblas libprotobuf-c libcurl nettle libzip) -lmeshoptimizer -x none ||
        die "the libraries do not link together (see above)"
fi
say "the Windows libraries are in $prefix"
