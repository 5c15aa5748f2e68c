#!/bin/sh
# Runs a cross-built Windows program under Wine, for ctest in a Windows
# build folder (the CMAKE_CROSSCOMPILING_EMULATOR of
# cmake/x86_64-w64-mingw32.cmake, as qemu-user is for the arm64 build):
#   wine-run.sh WINE64 PREFIX program.exe [args...]
# PREFIX is a Wine prefix of the build folder's own (made by the first
# run, about 7 s; never the user's ~/.wine), Wine's own messages are off
# (LN_WINEDEBUG, when set, is WINEDEBUG instead: tests/e2e/
# windows_service.sh reads the event log entries from Wine's trace), and
# wineserver (started by the first program) ends a few seconds after the
# last one.
set -eu
wine=$1
prefix=$2
shift 2
mkdir -p "$prefix"
WINEPREFIX=$prefix WINEDEBUG=${LN_WINEDEBUG:--all} WINEDLLOVERRIDES="mscoree,mshtml=" \
    exec "$wine" "$@"
