# SPDX-License-Identifier: Apache-2.0
# The CTest test uplink_deb (registered by cmake/uplinkInstall.cmake in cross
# builds): builds the Debian package of this build with CPack and checks it
# the way a firmware build would use it:
#
#   1. its control fields: Package, Version (the project's), Architecture
#      (arm64 / armhf: Debian's name for the target, never the build
#      machine's), Depends (libasio-dev, and libmbedtls-dev with TLS; dpkg
#      reads them for the package's own architecture);
#   2. its files: headers, the static libraries in the multiarch directory
#      /usr/lib/<triple>, the CMake package, uplink.pc with the version;
#   3. every object of every library is an ELF of the target's machine
#      (readelf -h), hard-float on armhf (readelf -A);
#   4. tests/consumer built against the package's contents unpacked into a
#      temporary root (dpkg-deb -x), by find_package and by pkg-config, and
#      run under the emulator (run_consumer.cmake with PREFIX).
#
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DCPACK=... -DARCH=arm64 -DTRIPLE=aarch64-linux-gnu
#         -DVERSION=0.1.0 -DWITH_TLS=ON -DREADELF=... <run_consumer.cmake's -D...>
#         -P check_deb.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR WORK_DIR CPACK ARCH VERSION READELF)
  if(NOT ${var})
    message(FATAL_ERROR "check_deb.cmake: ${var} is not set")
  endif()
endforeach()

function(fail)
  list(JOIN ARGN "" text)
  message(FATAL_ERROR "uplink_deb: ${text}")
endfunction()

function(run out_var)
  list(JOIN ARGN " " shown)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
  if(NOT rc EQUAL 0)
    fail("command failed (${rc}): ${shown}\n${out}${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

find_program(DPKG_DEB dpkg-deb)
if(NOT DPKG_DEB)
  fail("dpkg-deb not found")
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# 0. The package.
run(ignored ${CPACK} --config ${BUILD_DIR}/CPackConfig.cmake -G DEB -B ${WORK_DIR})
file(GLOB debs ${WORK_DIR}/*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 1)
  fail("expected one .deb in ${WORK_DIR}, found ${count}: ${debs}")
endif()
get_filename_component(deb_name ${debs} NAME)
if(NOT deb_name STREQUAL "libuplink-dev_${VERSION}_${ARCH}.deb")
  fail("the package is ${deb_name}, expected libuplink-dev_${VERSION}_${ARCH}.deb")
endif()
message(STATUS "uplink_deb: ${debs}")

# 1. Control fields.
foreach(field Package Version Architecture Depends)
  run(value ${DPKG_DEB} --field ${debs} ${field})
  string(STRIP "${value}" value)
  set(field_${field} "${value}")
  message(STATUS "uplink_deb: ${field}: ${value}")
endforeach()
if(NOT field_Package STREQUAL "libuplink-dev")
  fail("Package is '${field_Package}'")
endif()
if(NOT field_Version STREQUAL VERSION)
  fail("Version is '${field_Version}', the project's is ${VERSION}")
endif()
if(NOT field_Architecture STREQUAL ARCH)
  fail("Architecture is '${field_Architecture}', expected ${ARCH}")
endif()
set(expected_depends libasio-dev)
if(WITH_TLS)
  list(APPEND expected_depends libmbedtls-dev)
endif()
foreach(dep IN LISTS expected_depends)
  if(NOT field_Depends MATCHES "(^|, )${dep}( \\(|,|$)")
    fail("Depends '${field_Depends}' lacks ${dep}")
  endif()
endforeach()
if(field_Depends MATCHES ":(amd64|i386|any)")
  fail("Depends '${field_Depends}' names another architecture")
endif()

# 2. Files, unpacked into a root of their own.
set(root ${WORK_DIR}/root)
run(ignored ${DPKG_DEB} -x ${debs} ${root})
if(TRIPLE)
  set(libdir usr/lib/${TRIPLE})
else()
  set(libdir usr/lib)
endif()
set(libraries uplink_core uplink_client uplink_net uplink_asio uplink_port_linux uplink_port_raspberrypi)
if(WITH_TLS)
  list(APPEND libraries uplink_tls)
endif()
set(expected usr/include/uplink/client.hpp usr/include/uplink/port/clock.hpp
             usr/include/uplink/port/linux/file_spool_storage.hpp usr/share/doc/libuplink-dev/copyright
             ${libdir}/cmake/uplink/uplinkConfig.cmake ${libdir}/cmake/uplink/uplinkConfigVersion.cmake
             ${libdir}/cmake/uplink/uplinkTargets.cmake ${libdir}/pkgconfig/uplink.pc)
foreach(library IN LISTS libraries)
  list(APPEND expected ${libdir}/lib${library}.a)
endforeach()
foreach(file IN LISTS expected)
  if(NOT EXISTS ${root}/${file})
    fail("the package lacks /${file}")
  endif()
endforeach()
file(STRINGS ${root}/${libdir}/pkgconfig/uplink.pc pc_version REGEX "^Version: ")
if(NOT pc_version STREQUAL "Version: ${VERSION}")
  fail("uplink.pc says '${pc_version}', expected Version: ${VERSION}")
endif()

# 3. The libraries are for the target: every member's ELF header.
if(ARCH STREQUAL "arm64")
  set(machine "AArch64")
  set(class ELF64)
elseif(ARCH STREQUAL "armhf")
  set(machine "ARM")
  set(class ELF32)
elseif(ARCH STREQUAL "amd64")
  set(machine "Advanced Micro Devices X86-64")
  set(class ELF64)
else()
  fail("no ELF machine known for Debian architecture ${ARCH}")
endif()
foreach(library IN LISTS libraries)
  set(archive ${root}/${libdir}/lib${library}.a)
  run(headers ${READELF} -h ${archive})
  string(REGEX MATCHALL "Machine:[ \t]+[^\n]+" machines "${headers}")
  string(REGEX MATCHALL "Class:[ \t]+[^\n]+" classes "${headers}")
  list(LENGTH machines members)
  if(members EQUAL 0)
    fail("readelf -h found no object in ${archive}")
  endif()
  list(REMOVE_DUPLICATES machines)
  list(REMOVE_DUPLICATES classes)
  if(NOT machines MATCHES "^Machine:[ \t]+${machine}$")
    fail("lib${library}.a holds objects for ${machines}, expected ${machine}")
  endif()
  if(NOT classes MATCHES "^Class:[ \t]+${class}$")
    fail("lib${library}.a holds ${classes}, expected ${class}")
  endif()
  if(ARCH STREQUAL "armhf")
    # Objects carry the float ABI as a build attribute (the ELF header's
    # hard-float flag is set only in linked programs): one per object.
    run(attributes ${READELF} -A ${archive})
    string(REGEX MATCHALL "Tag_ABI_VFP_args: VFP registers" hard "${attributes}")
    list(LENGTH hard hard_count)
    if(NOT hard_count EQUAL members)
      fail("lib${library}.a: ${hard_count} of ${members} objects use the hard-float ABI (Tag_ABI_VFP_args)")
    endif()
  endif()
  message(STATUS "uplink_deb: lib${library}.a: ${members} objects, ${class} ${machine}")
endforeach()

# 4. A consumer built against the unpacked package, and run. Not through
# run(): its ${ARGN} would split the emulator's command line (a list).
execute_process(COMMAND ${CMAKE_COMMAND}
  -DBUILD_DIR=${BUILD_DIR} -DSOURCE_DIR=${SOURCE_DIR} -DWORK_DIR=${WORK_DIR}/consumer -DPREFIX=${root}/usr
  -DCONFIG=${CONFIG} -DGENERATOR=${GENERATOR} -DCXX_COMPILER=${CXX_COMPILER}
  -DCXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER} -DTOOLCHAIN_FILE=${TOOLCHAIN_FILE}
  "-DEMULATOR=${EMULATOR}" -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake
  RESULT_VARIABLE rc TIMEOUT 600)
if(NOT rc EQUAL 0)
  fail("the consumer did not build or run against the package's contents (${rc})")
endif()

message(STATUS "uplink_deb: ${deb_name} is right for ${ARCH}, and a consumer builds and runs against it")
