# Cross build for 64-bit Windows (Windows 10 and later) on a Debian x86-64
# machine with MinGW-w64 (make windows). Needs Debian's cross compiler and
# the libraries cross-built by packaging/windows/deps.sh into its prefix:
#   apt-get install gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 mingw-w64-tools \
#       libz-mingw-w64-dev dpkg-dev nasm   (./build.sh windows does this)
#   packaging/windows/deps.sh
# Use: cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/x86_64-w64-mingw32.cmake
# The prefix is $LN_WIN_DEPS/prefix, LN_WIN_DEPS defaulting to
# ${XDG_CACHE_HOME:-$HOME/.cache}/lunar-nova/mingw, as in deps.sh.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

# The "posix" flavour of Debian's MinGW-w64 compilers: GCC's own runtime
# uses winpthreads, which also provides the <pthread.h> the portable code
# still includes. Everything is linked statically (see below).
set(LN_CROSS_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${LN_CROSS_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${LN_CROSS_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${LN_CROSS_TRIPLE}-windres)

if(DEFINED ENV{LN_WIN_DEPS} AND NOT "$ENV{LN_WIN_DEPS}" STREQUAL "")
    set(LN_WIN_DEPS "$ENV{LN_WIN_DEPS}")
elseif(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(LN_WIN_DEPS "$ENV{XDG_CACHE_HOME}/lunar-nova/mingw")
else()
    set(LN_WIN_DEPS "$ENV{HOME}/.cache/lunar-nova/mingw")
endif()
set(LN_WIN_PREFIX "${LN_WIN_DEPS}/prefix" CACHE PATH
    "Prefix of the cross-built Windows libraries (packaging/windows/deps.sh)")

# Headers and libraries come from that prefix and from the compiler's own
# tree (/usr/x86_64-w64-mingw32: the C runtime, Windows' import libraries,
# Debian's libz-mingw-w64-dev); programs (pkg-config, protoc-c, node) from
# the host.
set(CMAKE_FIND_ROOT_PATH ${LN_WIN_PREFIX} /usr/${LN_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only the Windows .pc files, never the host's, and
# answers with the private libraries too (--static): every library is a
# static archive, so lunar-nova.exe must name what they need in turn
# (zlib for libpng, ws2_32 and crypt32 for libcurl, ...).
set(ENV{PKG_CONFIG_LIBDIR}
    "${LN_WIN_PREFIX}/lib/pkgconfig:${LN_WIN_PREFIX}/share/pkgconfig:/usr/${LN_CROSS_TRIPLE}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
set(PKG_CONFIG_ARGN --static CACHE STRING "Arguments every pkg-config query gets")

# One lunar-nova.exe without DLLs of the compiler's runtime: libgcc,
# libstdc++ (meshoptimizer is C++) and winpthreads are linked in, and so
# are the libraries above. Only Windows' own DLLs remain.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# ctest (and try_run) start the Windows programs through Wine (Debian's
# wine64: /usr/lib/wine/wine64, not on PATH without the `wine` package),
# by cmake/wine-run.sh with a Wine prefix inside the build folder, so that
# make test-windows touches no ~/.wine. Without Wine the programs are
# compiled here and run on Windows.
find_program(LN_WINE64 NAMES wine64 PATHS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
if(LN_WINE64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/wine-run.sh ${LN_WINE64}
        ${CMAKE_BINARY_DIR}/wine-prefix)
endif()

# The C99 printf family (%zu, %lld), which the code's format checks assume
# (LN_PRINTF in src/core/ln_error.h), instead of msvcrt's.
set(CMAKE_C_FLAGS_INIT "-D__USE_MINGW_ANSI_STDIO=1")
