# Cross build for 64-bit ARM Linux on a Debian x86-64 machine, tests run
# under qemu-user (make test-arm64). Needs Debian's cross compiler and the
# arm64 libraries through multiarch, which ./build.sh test installs:
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install gcc-aarch64-linux-gnu qemu-user libc6:arm64 \
#       libpng-dev:arm64 libjpeg62-turbo-dev:arm64 ... (see build.sh)
# Use: cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(LN_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${LN_CROSS_TRIPLE}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${LN_CROSS_TRIPLE})

# Headers and libraries come from the cross compiler's own tree and from
# the multiarch arm64 packages (/usr/include/aarch64-linux-gnu,
# /usr/lib/aarch64-linux-gnu); programs (pkg-config, node) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${LN_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only the arm64 .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${LN_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# ctest (and try_run) start the arm64 programs through qemu-user, so no
# binfmt_misc registration is needed. "-L /": the loader and the C library
# are the multiarch libc6:arm64 ones (/lib/ld-linux-aarch64.so.1,
# /lib/aarch64-linux-gnu), the same build as every other arm64 library.
# Not -L /usr/aarch64-linux-gnu: that pairs the cross compiler's own loader
# with libc6:arm64's libc.so.6 whenever their versions differ, and threaded
# tests then hang.
find_program(LN_QEMU_AARCH64 qemu-aarch64)
if(LN_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${LN_QEMU_AARCH64} -L /)
endif()
