# SPDX-License-Identifier: Apache-2.0
# Cross toolchain: 32-bit Raspberry Pi OS / Debian armhf on ARMv7-A with
# hard float and NEON (Pi 2, 3, 4, 5 and Zero 2 W running a 32-bit userland).
# Not for the Pi 1 / Pi Zero / Zero W (ARMv6, no NEON): see toolchains/README.md.
#
#   cmake --preset armhf        (or: cmake -B build/armhf -G Ninja
#                                  --toolchain toolchains/arm-linux-gnueabihf.cmake)
#
# Compilers: Debian's g++-arm-linux-gnueabihf. Target libraries: Debian
# multiarch (libmbedtls-dev:armhf, libcpputest-dev:armhf), which puts them in
# /usr/lib/arm-linux-gnueabihf and their headers in /usr/include. Tests run on
# the build machine under qemu-user. See toolchains/README.md.
set(CMAKE_SYSTEM_NAME Linux)
# What `uname -m` says on a 32-bit Pi with a 32-bit kernel.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_SYSTEM_VERSION 1)

set(UPLINK_CROSS_TRIPLE arm-linux-gnueabihf)
set(CMAKE_C_COMPILER_TARGET ${UPLINK_CROSS_TRIPLE})
set(CMAKE_CXX_COMPILER_TARGET ${UPLINK_CROSS_TRIPLE})

# ARMv7-A, VFPv4 + NEON, hard-float ABI: the Cortex-A7 of the Pi 2 is the
# oldest core this covers (the Pi 3/4/5 run it in AArch32 state).
# -Wno-psabi: GCC notes on every std::vector<T>::iterator parameter that its
# passing "changed in GCC 7.1"; that only matters when linking with objects
# built by GCC < 7.1, never the case here, and it buries real diagnostics.
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard -Wno-psabi")

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
find_program(UPLINK_QEMU_ARM qemu-arm)
if(NOT UPLINK_QEMU_ARM)
  message(WARNING "qemu-arm not found: the build works, but ctest cannot run the armhf tests "
                  "(apt-get install qemu-user, or scripts/setup cross)")
  set(UPLINK_QEMU_ARM qemu-arm)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${UPLINK_QEMU_ARM};-L;/usr/${UPLINK_CROSS_TRIPLE}
                                 -E;LD_LIBRARY_PATH=/usr/${UPLINK_CROSS_TRIPLE}/lib)

find_program(UPLINK_CROSS_C_COMPILER NAMES ${UPLINK_CROSS_TRIPLE}-gcc)
find_program(UPLINK_CROSS_CXX_COMPILER NAMES ${UPLINK_CROSS_TRIPLE}-g++)
if(NOT UPLINK_CROSS_C_COMPILER OR NOT UPLINK_CROSS_CXX_COMPILER)
  message(FATAL_ERROR "Cross compiler ${UPLINK_CROSS_TRIPLE}-g++ (or -gcc) not found on PATH. "
                      "Install it: apt-get install g++-${UPLINK_CROSS_TRIPLE} (or run scripts/setup cross).")
endif()
set(CMAKE_C_COMPILER ${UPLINK_CROSS_C_COMPILER})
set(CMAKE_CXX_COMPILER ${UPLINK_CROSS_CXX_COMPILER})
