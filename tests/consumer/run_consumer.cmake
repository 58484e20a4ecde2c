# SPDX-License-Identifier: Apache-2.0
# The CTest test uplink_consumer (registered by cmake/uplinkInstall.cmake):
# installs a build of uplink into a fresh prefix, then builds this directory's
# project against the installed package (find_package) and runs it, and builds
# and runs main.cpp once more from uplink.pc (pkg-config). Cross builds use
# the same toolchain file and run the programs under the emulator.
# With PREFIX, the package already installed there (the contents of the
# Debian package, check_deb.cmake) is checked and used instead, and nothing
# is installed.
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCONFIG=... -DGENERATOR=...
#         -DCXX_COMPILER=... [-DCXX_COMPILER_LAUNCHER=...] [-DTOOLCHAIN_FILE=...]
#         [-DEMULATOR=qemu-...;-L;...] [-DPREFIX=<installed tree>] -P run_consumer.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()

function(fail)
  list(JOIN ARGN "" text)
  message(FATAL_ERROR "uplink_consumer: ${text}")
endfunction()

# Runs a command, echoing it; any failure fails the test.
function(run)
  list(JOIN ARGN " " shown)
  message(STATUS "uplink_consumer: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc TIMEOUT 600)
  if(NOT rc EQUAL 0)
    fail("command failed (${rc}): ${shown}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})  # never pass on a stale install

# 1. Install.
if(PREFIX)
  set(prefix ${PREFIX})
elseif(CONFIG)
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${CONFIG})
else()
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
endif()

# 2. What the package must contain, and must not. LIBDIR is lib, lib64 or
# lib/<multiarch triple>, as GNUInstallDirs chose.
file(GLOB_RECURSE installed LIST_DIRECTORIES false RELATIVE ${prefix} ${prefix}/*)
foreach(expected include/uplink/client.hpp include/uplink/options.hpp include/uplink/net/asio.hpp
                 LIBDIR/libuplink_core.a LIBDIR/libuplink_client.a LIBDIR/libuplink_net.a LIBDIR/libuplink_asio.a
                 LIBDIR/libuplink_port_[a-z0-9_]+.a
                 LIBDIR/cmake/uplink/uplinkConfig.cmake LIBDIR/cmake/uplink/uplinkConfigVersion.cmake
                 LIBDIR/cmake/uplink/uplinkTargets.cmake LIBDIR/pkgconfig/uplink.pc)
  string(REPLACE "." "\\." regex "${expected}")
  string(REPLACE "LIBDIR" "lib(64|/[^/]+)?" regex "${regex}")
  set(found ${installed})
  list(FILTER found INCLUDE REGEX "^${regex}$")
  if(NOT found)
    fail("the install in ${prefix} lacks ${expected}")
  endif()
endforeach()
file(GLOB_RECURSE exported ${prefix}/*/uplinkTargets*.cmake)
foreach(file IN LISTS exported)
  file(READ ${file} text)
  if(text MATCHES "build_flags|-Werror|-Wpedantic")
    fail("${file} refers to uplink's build-only flags")
  endif()
  string(FIND "${text}" "${BUILD_DIR}" at)
  if(NOT at EQUAL -1)
    fail("${file} refers to the build tree ${BUILD_DIR}")
  endif()
endforeach()

set(common_args -G ${GENERATOR})
if(CONFIG)
  list(APPEND common_args -DCMAKE_BUILD_TYPE=${CONFIG})
endif()
if(TOOLCHAIN_FILE)
  list(APPEND common_args -DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE})
else()
  list(APPEND common_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(CXX_COMPILER_LAUNCHER)
  list(APPEND common_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER})
endif()

# 3. find_package(uplink) + uplink::uplink, built and run.
set(build ${WORK_DIR}/build)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build} ${common_args} -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${build})
file(READ ${build}/compile_commands.json commands)
if(commands MATCHES "-Werror")
  fail("uplink's -Werror leaked into the consumer's compile commands")
endif()
run(${EMULATOR} ${build}/uplink_consumer)

# 4. The same program from uplink.pc alone.
find_program(PKG_CONFIG NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG)
  fail("pkg-config not found (apt-get install pkg-config)")
endif()
file(GLOB_RECURSE pc_file ${prefix}/*/uplink.pc)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir}
                        ${PKG_CONFIG} --cflags --libs uplink
  OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  fail("pkg-config --cflags --libs uplink failed")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run(${CXX_COMPILER_LAUNCHER} ${CXX_COMPILER} -std=c++17 ${SOURCE_DIR}/main.cpp ${pc_flags}
    -o ${WORK_DIR}/uplink_consumer_pc)
run(${EMULATOR} ${WORK_DIR}/uplink_consumer_pc)

message(STATUS "uplink_consumer: the installed package works (find_package and pkg-config)")
