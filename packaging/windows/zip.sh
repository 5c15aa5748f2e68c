#!/usr/bin/env bash
# Makes dist/lunar-nova-<version>-win64.zip from a Windows cross build
# (make windows): one folder, lunar-nova-<version>-win64/, holding
#   bin/lunar-nova.exe                 the program
#   bin/*.dll                          DLLs it imports other than Windows' own
#                                      (none while every library is static)
#   share/lunar-nova/web/              the web UI
#   share/lunar-nova/vendor/three/     the three.js files the UI loads
#   doc/                               README, CHANGELOG, KNOWN_ISSUES,
#                                      docs/operations/, docs/windows.md
#   README-windows.txt                 packaging/windows/README.txt
# the same bin/ and share/ layout as a Linux installation, so the program
# finds its web UI from its own folder (bin/../share/lunar-nova) alike.
#
# Use: packaging/windows/zip.sh BUILD_DIR DIST_DIR
#   LN_WIN_DEPS: the cache folder of deps.sh (DLLs are looked for there)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: zip.sh BUILD_DIR DIST_DIR}
dist=${2:?usage: zip.sh BUILD_DIR DIST_DIR}
cache=${LN_WIN_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/lunar-nova/mingw}
host=x86_64-w64-mingw32

die() { echo "zip.sh: $*" >&2; exit 1; }

exe=$build/lunar-nova.exe
[ -f "$exe" ] || die "$exe not found (make windows builds it)"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || die "no project version in $build/CMakeCache.txt"
[ -f "$build/vendor/three/build/three.module.js" ] ||
    die "three.js is missing from $build/vendor (run npm ci, then build again)"

name=lunar-nova-$version-win64
stage=$build/zip/$name
rm -rf "$build/zip"
mkdir -p "$stage/bin" "$stage/share/lunar-nova" "$stage/doc/docs" "$dist"

cp "$exe" "$stage/bin/"
$host-strip "$stage/bin/lunar-nova.exe"

# DLLs the program imports, and theirs in turn, other than Windows' own
# (those are in C:\Windows\System32 and not ours to ship).
dll_dirs=("$cache/prefix/bin" "/usr/$host/lib" "/usr/lib/gcc/$host/$($host-gcc-posix -dumpversion)")
is_system_dll() {
    case ${1,,} in
    kernel32.dll | user32.dll | advapi32.dll | ws2_32.dll | crypt32.dll | bcrypt.dll | \
        secur32.dll | shell32.dll | ole32.dll | oleaut32.dll | msvcrt.dll | shlwapi.dll | \
        iphlpapi.dll | wldap32.dll | normaliz.dll | ntdll.dll | gdi32.dll | comdlg32.dll | \
        api-ms-win-*.dll | ucrtbase.dll | dbghelp.dll | psapi.dll | userenv.dll | rpcrt4.dll | \
        winmm.dll | version.dll | mswsock.dll | dnsapi.dll | ncrypt.dll | powrprof.dll)
        return 0 ;;
    esac
    return 1
}
queue=("$stage/bin/lunar-nova.exe")
while [ ${#queue[@]} -gt 0 ]; do
    file=${queue[0]}
    queue=("${queue[@]:1}")
    while read -r dll; do
        is_system_dll "$dll" && continue
        [ -f "$stage/bin/$dll" ] && continue
        found=
        for d in "${dll_dirs[@]}"; do
            if [ -f "$d/$dll" ]; then found=$d/$dll; break; fi
        done
        [ -n "$found" ] || die "$file needs $dll, found in none of ${dll_dirs[*]}"
        cp "$found" "$stage/bin/"
        queue+=("$stage/bin/$dll")
    done < <($host-objdump -p "$file" | sed -n 's/^\s*DLL Name: //p')
done

cp -r "$repo/web" "$stage/share/lunar-nova/web"
mkdir -p "$stage/share/lunar-nova/vendor"
cp -r "$build/vendor/three" "$stage/share/lunar-nova/vendor/three"
cp "$repo/README.md" "$repo/CHANGELOG.md" "$repo/KNOWN_ISSUES.md" "$stage/doc/"
cp -r "$repo/docs/operations" "$stage/doc/docs/operations"
cp "$repo/docs/windows.md" "$stage/doc/docs/"
# Windows' Notepad and most editors read CRLF; the text is ours.
sed 's/$/\r/' "$repo/packaging/windows/README.txt" >"$stage/README-windows.txt"

zip=$(cd "$dist" && pwd)/$name.zip
rm -f "$zip"
(cd "$build/zip" && cmake -E tar cf "$zip" --format=zip "$name")
echo "zip.sh: $zip"
