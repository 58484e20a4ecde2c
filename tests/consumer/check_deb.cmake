# SPDX-License-Identifier: Apache-2.0
# The CTest tests uplink_deb (the SDK's package, libuplink-dev; registered
# by cmake/uplinkInstall.cmake in cross builds) and uplink_tools_deb (the
# tools' package, uplink-tools; host and cross builds with the tools): builds
# one Debian package of this build with CPack (its install component) and
# checks it the way a firmware build or a user would use it:
#
#   1. its control fields: Package, Version (the project's), Architecture
#      (arm64 / armhf: Debian's name for the target, never the build
#      machine's), Depends (libuplink-dev: libasio-dev, and libmbedtls-dev
#      with TLS; uplink-tools: the package of every shared library its
#      programs load, from their NEEDED entries; dpkg reads them for the
#      package's own architecture);
#   2. its files, the copyright file among them: libuplink-dev: headers, the
#      static libraries in the multiarch directory /usr/lib/<triple>, the
#      CMake package, uplink.pc with the version; uplink-tools: the programs
#      in /usr/bin and the systemd units, whose ExecStart= names them;
#   3. every object of every library, every program, is an ELF of the
#      target's machine (readelf -h), hard-float on armhf (readelf -A);
#   4. libuplink-dev: tests/consumer built against the package's contents
#      unpacked into a temporary root (dpkg-deb -x), by find_package and by
#      pkg-config, and run under the emulator (run_consumer.cmake with
#      PREFIX); uplink-tools: each program from the package runs (under the
#      emulator) and prints its version.
#
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DCPACK=... -DARCH=arm64 -DTRIPLE=aarch64-linux-gnu
#         -DVERSION=0.1.0 -DWITH_TLS=ON -DREADELF=... [-DPACKAGE=uplink-tools -DWITH_SYSTEMD=ON]
#         <run_consumer.cmake's -D...> -P check_deb.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR WORK_DIR CPACK ARCH VERSION READELF)
  if(NOT ${var})
    message(FATAL_ERROR "check_deb.cmake: ${var} is not set")
  endif()
endforeach()

if(NOT PACKAGE)
  set(PACKAGE libuplink-dev)
endif()
if(PACKAGE STREQUAL "libuplink-dev")
  set(component sdk)
  set(test_name uplink_deb)
elseif(PACKAGE STREQUAL "uplink-tools")
  set(component tools)
  set(test_name uplink_tools_deb)
else()
  message(FATAL_ERROR "check_deb.cmake: no package ${PACKAGE}")
endif()

function(fail)
  list(JOIN ARGN "" text)
  message(FATAL_ERROR "${test_name}: ${text}")
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

# 0. The package: this component's alone.
run(ignored ${CPACK} --config ${BUILD_DIR}/CPackConfig.cmake -G DEB -B ${WORK_DIR}
    -D CPACK_COMPONENTS_ALL=${component})
file(GLOB debs ${WORK_DIR}/*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 1)
  fail("expected one .deb in ${WORK_DIR}, found ${count}: ${debs}")
endif()
get_filename_component(deb_name ${debs} NAME)
if(NOT deb_name STREQUAL "${PACKAGE}_${VERSION}_${ARCH}.deb")
  fail("the package is ${deb_name}, expected ${PACKAGE}_${VERSION}_${ARCH}.deb")
endif()
message(STATUS "${test_name}: ${debs}")

# 1. Control fields.
foreach(field Package Version Architecture Depends)
  run(value ${DPKG_DEB} --field ${debs} ${field})
  string(STRIP "${value}" value)
  set(field_${field} "${value}")
  message(STATUS "${test_name}: ${field}: ${value}")
endforeach()
if(NOT field_Package STREQUAL PACKAGE)
  fail("Package is '${field_Package}'")
endif()
if(NOT field_Version STREQUAL VERSION)
  fail("Version is '${field_Version}', the project's is ${VERSION}")
endif()
if(NOT field_Architecture STREQUAL ARCH)
  fail("Architecture is '${field_Architecture}', expected ${ARCH}")
endif()
if(component STREQUAL "sdk")
  set(expected_depends libasio-dev)
  if(WITH_TLS)
    list(APPEND expected_depends libmbedtls-dev)
  endif()
else()
  set(expected_depends libc6 libstdc++6)  # and what the programs' NEEDED entries name (3.)
  if(WITH_TLS)
    list(APPEND expected_depends libmbedtls14)
  endif()
  if(WITH_SYSTEMD)
    list(APPEND expected_depends libsystemd0)
  endif()
endif()
# True in out_var when Depends names `package` (with or without a version).
function(depends_on out_var package)
  string(REPLACE "+" "\\+" package_regex "${package}")  # libstdc++6
  if(field_Depends MATCHES "(^|, )${package_regex}( \\(|,|$)")
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()
foreach(dep IN LISTS expected_depends)
  depends_on(listed ${dep})
  if(NOT listed)
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
set(expected usr/share/doc/${PACKAGE}/copyright)
set(elf_files "")  # checked in 3.
if(component STREQUAL "sdk")
  set(libraries uplink_core uplink_client uplink_net uplink_asio uplink_port_linux uplink_port_raspberrypi)
  if(WITH_TLS)
    list(APPEND libraries uplink_tls)
  endif()
  list(APPEND expected usr/include/uplink/client.hpp usr/include/uplink/port/clock.hpp
              usr/include/uplink/port/linux/file_spool_storage.hpp
              ${libdir}/cmake/uplink/uplinkConfig.cmake ${libdir}/cmake/uplink/uplinkConfigVersion.cmake
              ${libdir}/cmake/uplink/uplinkTargets.cmake ${libdir}/pkgconfig/uplink.pc)
  foreach(library IN LISTS libraries)
    list(APPEND expected ${libdir}/lib${library}.a)
    list(APPEND elf_files ${libdir}/lib${library}.a)
  endforeach()
else()
  set(programs uplink_server uplink_device uplink_proxy)
  if(WITH_TLS)
    list(APPEND programs uplink_make_test_pki)
  endif()
  set(units uplink-server.service uplink-device@.service)
  foreach(program IN LISTS programs)
    list(APPEND expected usr/bin/${program})
    list(APPEND elf_files usr/bin/${program})
  endforeach()
  foreach(unit IN LISTS units)
    list(APPEND expected usr/lib/systemd/system/${unit})
  endforeach()
endif()
foreach(file IN LISTS expected)
  if(NOT EXISTS ${root}/${file})
    fail("the package lacks /${file}")
  endif()
endforeach()
if(component STREQUAL "sdk")
  file(STRINGS ${root}/${libdir}/pkgconfig/uplink.pc pc_version REGEX "^Version: ")
  if(NOT pc_version STREQUAL "Version: ${VERSION}")
    fail("uplink.pc says '${pc_version}', expected Version: ${VERSION}")
  endif()
else()
  # The maintainer scripts that tell a running systemd about the units.
  run(control ${DPKG_DEB} --info ${debs})
  foreach(script postinst postrm)
    if(NOT control MATCHES "[ \t][0-9]+ bytes,[ \t]+[0-9]+ lines[ \t]+\\*[ \t]+${script}[ \t]")
      fail("the package has no executable ${script} (dpkg-deb --info):\n${control}")
    endif()
  endforeach()
  # Each unit starts a program of the package, where the package puts it.
  foreach(unit IN LISTS units)
    file(STRINGS ${root}/usr/lib/systemd/system/${unit} exec_start REGEX "^ExecStart=")
    if(NOT exec_start MATCHES "^ExecStart=/usr/bin/(uplink_[a-z_]+)( |$)" OR NOT CMAKE_MATCH_1 IN_LIST programs)
      fail("${unit}: '${exec_start}' does not start a program of the package from /usr/bin")
    endif()
    message(STATUS "${test_name}: ${unit}: ${exec_start}")
  endforeach()
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
# Debian 12's package of each shared library a program may load.
set(package_of_libc.so.6 libc6)
set(package_of_libm.so.6 libc6)
set(package_of_libstdc++.so.6 libstdc++6)
set(package_of_libgcc_s.so.1 libgcc-s1)
set(package_of_libmbedtls.so.14 libmbedtls14)
set(package_of_libmbedx509.so.1 libmbedx509-1)
set(package_of_libmbedcrypto.so.7 libmbedcrypto7)
set(package_of_libsystemd.so.0 libsystemd0)
foreach(elf_file IN LISTS elf_files)
  set(archive ${root}/${elf_file})
  get_filename_component(library ${elf_file} NAME)
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
    fail("${library} holds objects for ${machines}, expected ${machine}")
  endif()
  if(NOT classes MATCHES "^Class:[ \t]+${class}$")
    fail("${library} holds ${classes}, expected ${class}")
  endif()
  if(component STREQUAL "tools")
    # A program: every shared library it loads comes from a package in Depends.
    run(dynamic ${READELF} -d ${archive})
    string(REGEX MATCHALL "Shared library: \\[[^]]+\\]" entries "${dynamic}")
    set(needed "")
    foreach(entry IN LISTS entries)
      string(REGEX REPLACE "^Shared library: \\[(.+)\\]$" "\\1" soname "${entry}")
      list(APPEND needed ${soname})
      if(soname MATCHES "^ld-linux")
        set(package_of_${soname} libc6)
      endif()
      if(NOT DEFINED package_of_${soname})
        fail("${library} loads ${soname}, whose Debian package check_deb.cmake does not know: add it there "
             "and to CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS (cmake/uplinkInstall.cmake)")
      endif()
      depends_on(listed ${package_of_${soname}})
      if(NOT listed)
        fail("${library} loads ${soname}, but Depends '${field_Depends}' lacks ${package_of_${soname}}")
      endif()
    endforeach()
    list(JOIN needed " " needed)
    message(STATUS "${test_name}: ${library} loads ${needed}")
  endif()
  if(ARCH STREQUAL "armhf")
    # Objects carry the float ABI as a build attribute (the ELF header's
    # hard-float flag is set only in linked programs): one per object.
    run(attributes ${READELF} -A ${archive})
    string(REGEX MATCHALL "Tag_ABI_VFP_args: VFP registers" hard "${attributes}")
    list(LENGTH hard hard_count)
    if(NOT hard_count EQUAL members)
      fail("${library}: ${hard_count} of ${members} objects use the hard-float ABI (Tag_ABI_VFP_args)")
    endif()
  endif()
  if(component STREQUAL "sdk")
    message(STATUS "${test_name}: ${library}: ${members} objects, ${class} ${machine}")
  else()
    message(STATUS "${test_name}: ${library}: ${class} ${machine}")
  endif()
endforeach()

if(component STREQUAL "tools")
  # 4. Each program runs from the package (under the emulator) and names
  # its version. Not through run(): its ${ARGN} would split the emulator's
  # command line (a list).
  foreach(program IN LISTS programs)
    execute_process(COMMAND ${EMULATOR} ${root}/usr/bin/${program} --version
      RESULT_VARIABLE rc OUTPUT_VARIABLE said ERROR_VARIABLE err TIMEOUT 120)
    string(STRIP "${said}" said)
    if(NOT rc EQUAL 0 OR NOT said MATCHES "^${program} ${VERSION} \\(")
      fail("${program} --version from the package: status ${rc}, said '${said}${err}'")
    endif()
    message(STATUS "${test_name}: ${said}")
  endforeach()
  message(STATUS "${test_name}: ${deb_name} is right for ${ARCH}, and its programs run")
  return()
endif()

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

message(STATUS "${test_name}: ${deb_name} is right for ${ARCH}, and a consumer builds and runs against it")
