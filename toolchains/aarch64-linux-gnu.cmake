# SPDX-License-Identifier: Apache-2.0
# Cross toolchain: 64-bit Raspberry Pi OS / Debian arm64 (Pi 3, 4, 5, Zero 2 W
# and any other ARMv8-A board running a 64-bit userland).
#
#   cmake --preset aarch64      (or: cmake -B build/aarch64 -G Ninja
#                                  --toolchain toolchains/aarch64-linux-gnu.cmake)
#
# Compilers: Debian's g++-aarch64-linux-gnu. Target libraries: Debian
# multiarch (libmbedtls-dev:arm64, libcpputest-dev:arm64), which puts them in
# /usr/lib/aarch64-linux-gnu and their headers in /usr/include. Tests run on
# the build machine under qemu-user. See toolchains/README.md.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_SYSTEM_VERSION 1)

set(UPLINK_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER_TARGET ${UPLINK_CROSS_TRIPLE})
set(CMAKE_CXX_COMPILER_TARGET ${UPLINK_CROSS_TRIPLE})

# Debian multiarch: find_library() looks in /usr/lib/<triple> (the target's
# libraries), never in the host's /usr/lib/x86_64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${UPLINK_CROSS_TRIPLE})

# Programs (code generators, qemu) are the host's; libraries, headers and
# packages only from the roots below: the cross toolchain's own tree
# (/usr/<triple>: libc, libstdc++) and / for multiarch, where the target's
# libraries are in /usr/lib/<triple> and shared headers in /usr/include.
set(CMAKE_FIND_ROOT_PATH /usr/${UPLINK_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Cross-built executables (tests, try_run) run under qemu-user. -L makes
# qemu take the program's loader (ld.so) from the cross toolchain's tree,
# /usr/<triple>/lib. LD_LIBRARY_PATH (set for the guest only, with -E) makes
# that loader take libc, libpthread and libstdc++ from the same tree: without
# it, it falls back to the multiarch /lib/<triple>/libc.so.6 of libc6:<arch>
# (pulled in by the :arm64/:armhf -dev packages), whose Debian revision is
# usually not the cross toolchain's (2.36-9+deb12uN against 2.36-8cross1 on
# Debian 12), and an ld.so and a libc of different builds break at the first
# pthread_create (a hang on aarch64, a SIGSEGV on armhf). Multiarch shared
# libraries (/usr/lib/<triple>) are still found through the default path.
find_program(UPLINK_QEMU_AARCH64 qemu-aarch64)
if(NOT UPLINK_QEMU_AARCH64)
  message(WARNING "qemu-aarch64 not found: the build works, but ctest cannot run the aarch64 tests "
                  "(apt-get install qemu-user, or scripts/setup cross)")
  set(UPLINK_QEMU_AARCH64 qemu-aarch64)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${UPLINK_QEMU_AARCH64};-L;/usr/${UPLINK_CROSS_TRIPLE}
                                 -E;LD_LIBRARY_PATH=/usr/${UPLINK_CROSS_TRIPLE}/lib)

find_program(UPLINK_CROSS_C_COMPILER NAMES ${UPLINK_CROSS_TRIPLE}-gcc)
find_program(UPLINK_CROSS_CXX_COMPILER NAMES ${UPLINK_CROSS_TRIPLE}-g++)
if(NOT UPLINK_CROSS_C_COMPILER OR NOT UPLINK_CROSS_CXX_COMPILER)
  message(FATAL_ERROR "Cross compiler ${UPLINK_CROSS_TRIPLE}-g++ (or -gcc) not found on PATH. "
                      "Install it: apt-get install g++-${UPLINK_CROSS_TRIPLE} (or run scripts/setup cross).")
endif()
set(CMAKE_C_COMPILER ${UPLINK_CROSS_C_COMPILER})
set(CMAKE_CXX_COMPILER ${UPLINK_CROSS_CXX_COMPILER})
