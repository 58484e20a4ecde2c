# SPDX-License-Identifier: Apache-2.0
# Installation, the exported CMake package, pkg-config and a Debian package.
# Included at the end of the top-level CMakeLists.txt, after every target.
#
#   cmake --install build/release --prefix /some/prefix
#   # then, in another project:
#   find_package(uplink CONFIG REQUIRED)      # CMAKE_PREFIX_PATH=/some/prefix
#   target_link_libraries(app PRIVATE uplink::uplink)
#   # or: pkg-config --cflags --libs uplink  (PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig)
#   cpack --config build/release/CPackConfig.cmake -G DEB   # libuplink-dev_<version>_<arch>.deb
#                                                           # and uplink-tools_<version>_<arch>.deb
#
# Two install components, each its own Debian package:
#   sdk    (libuplink-dev)  what a firmware build needs, described below
#   tools  (uplink-tools)   uplink_server, uplink_device, uplink_proxy,
#                           uplink_make_test_pki, and the systemd units
#                           uplink-server.service and uplink-device@.service
#                           (tools/service), when the tools are built
#   cmake --install build/release --component tools   # only the tools
#
# What is installed: the public headers (sdk/include/uplink, and the ports'
# include directories), the static libraries uplink_core, uplink_client, the
# default port (uplink_port_linux), the other ports built beside it
# (uplink_port_raspberrypi), uplink_net (the stream seam and TCP), uplink_tls
# when it is built, and uplink_asio (Asio's compiled implementation, with
# Asio's compile definitions and Threads, which the public headers need). In
# the package they are uplink::uplink (the client), uplink::core,
# uplink::port, uplink::port_raspberrypi, uplink::net, uplink::tls and
# uplink::asio: the same names as the build tree's aliases.
#
# Two things of the build tree stay out of the package, by design:
#
# - uplink_build_flags (-Wall ... -Werror, sanitizers). Our static libraries
#   link it PRIVATE, which CMake records in their INTERFACE_LINK_LIBRARIES as
#   $<LINK_ONLY:uplink_build_flags> (a static library's private dependencies
#   are needed when linking its consumers). It has nothing to link, though:
#   it carries build-only flags. Exporting it would ship a target with -Werror
#   in every installed package for no benefit, so instead every reference to
#   it in the exported targets is wrapped in $<BUILD_INTERFACE:...>, as if
#   the SDK had written `PRIVATE $<BUILD_INTERFACE:uplink_build_flags>`: the
#   build tree is unchanged, and install(EXPORT) drops the entry. (Should
#   sdk/ or ports/ adopt that spelling themselves, this becomes a no-op.)
#
# - The absolute Asio include directory found on the build machine. The
#   exported uplink::asio keeps Asio's compile definitions (which must match
#   how the library was compiled: ASIO_SEPARATE_COMPILATION, ...) and
#   Threads; uplinkConfig.cmake finds asio.hpp on the consumer's machine and
#   fails with a clear message when it is missing.
#
# Any other non-exported target that an exported one comes to depend on makes
# CMake fail at generate time ("requires target ... that is not in any export
# set"), which is what we want: add it to UPLINK_INSTALL_TARGETS below.

# On by default when uplink is the top-level project; a project that embeds
# it (add_subdirectory, FetchContent) and installs its own targets that link
# uplink may turn it on too.
option(UPLINK_INSTALL "Generate uplink's install rules, CMake package and pkg-config file"
       ${PROJECT_IS_TOP_LEVEL})
if(NOT UPLINK_INSTALL)
  return()
endif()

# Debian multiarch for cross builds too: GNUInstallDirs picks
# lib/<triple> for the prefix /usr only on a native Debian build, and plain
# lib when cross-compiling, which would make the arm64 and armhf packages
# collide on /usr/lib. Applied once, so a CMAKE_INSTALL_LIBDIR given later
# by hand stays; the cross presets set CMAKE_INSTALL_PREFIX=/usr.
if(CMAKE_CROSSCOMPILING AND CMAKE_LIBRARY_ARCHITECTURE AND CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$"
   AND NOT UPLINK_MULTIARCH_LIBDIR_APPLIED
   AND (NOT DEFINED CMAKE_INSTALL_LIBDIR OR CMAKE_INSTALL_LIBDIR STREQUAL "lib"))
  set(CMAKE_INSTALL_LIBDIR "lib/${CMAKE_LIBRARY_ARCHITECTURE}" CACHE PATH "Object code libraries (lib)" FORCE)
  set(UPLINK_MULTIARCH_LIBDIR_APPLIED ON CACHE INTERNAL "")
  unset(UPLINK_INSTALL_CMAKEDIR CACHE)  # derived from the old libdir (below)
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(UPLINK_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/uplink"
    CACHE STRING "Where uplinkConfig.cmake is installed, relative to the prefix")
mark_as_advanced(UPLINK_INSTALL_CMAKEDIR)

# Exported targets and their names in the package (uplink::<name>). The
# default port is whichever UPLINK_PORT built, found through its alias, and
# becomes uplink::port; every other port built beside it (uplink_port_<name>,
# e.g. the Raspberry Pi's) becomes uplink::port_<name>, with the headers of
# its ports/<name>/include directory.
get_target_property(_uplink_port_target uplink::port ALIASED_TARGET)
set(UPLINK_INSTALL_TARGETS uplink_core uplink_client ${_uplink_port_target} uplink_net uplink_asio)
set_target_properties(uplink_core PROPERTIES EXPORT_NAME core)
set_target_properties(uplink_client PROPERTIES EXPORT_NAME uplink)
set_target_properties(${_uplink_port_target} PROPERTIES EXPORT_NAME port)
set_target_properties(uplink_net PROPERTIES EXPORT_NAME net)
set_target_properties(uplink_asio PROPERTIES EXPORT_NAME asio)
if(TARGET uplink_tls)
  list(APPEND UPLINK_INSTALL_TARGETS uplink_tls)
  set_target_properties(uplink_tls PROPERTIES EXPORT_NAME tls)
endif()
file(GLOB _uplink_port_dirs LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/ports/*)
foreach(_uplink_port_dir IN LISTS _uplink_port_dirs)
  get_filename_component(_uplink_port_name ${_uplink_port_dir} NAME)
  if(NOT TARGET uplink_port_${_uplink_port_name})
    continue()
  endif()
  if(NOT uplink_port_${_uplink_port_name} STREQUAL _uplink_port_target)
    list(APPEND UPLINK_INSTALL_TARGETS uplink_port_${_uplink_port_name})
    set_target_properties(uplink_port_${_uplink_port_name} PROPERTIES EXPORT_NAME port_${_uplink_port_name})
  endif()
  if(IS_DIRECTORY ${_uplink_port_dir}/include)
    install(DIRECTORY ${_uplink_port_dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT sdk
      FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
  endif()
endforeach()

# The build-only flags target, never exported (see above).
set(UPLINK_BUILD_ONLY_TARGETS uplink_build_flags)

install(TARGETS ${UPLINK_INSTALL_TARGETS}
  EXPORT uplinkTargets
  COMPONENT sdk
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Built without MQTT, the headers of the MQTT codec and profile stay out:
# their code is not in the archives (options.hpp keeps MqttOptions, plain data).
set(_uplink_header_exclusions "")
if(NOT UPLINK_WITH_MQTT)
  foreach(header IN LISTS UPLINK_MQTT_HEADERS)
    get_filename_component(header_name "${header}" NAME)
    list(APPEND _uplink_header_exclusions PATTERN "${header_name}" EXCLUDE)
  endforeach()
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/include/uplink
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT sdk
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h" ${_uplink_header_exclusions})
install(EXPORT uplinkTargets
  NAMESPACE uplink::
  DESTINATION ${UPLINK_INSTALL_CMAKEDIR}
  COMPONENT sdk)

# Static libraries of a 0.x release: the same minor version is required (the
# ABI may change between minors), and the version file also refuses a package
# built for another pointer size (a 64-bit install seen from a 32-bit build).
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/uplinkConfig.cmake.in
  ${PROJECT_BINARY_DIR}/uplinkConfig.cmake
  INSTALL_DESTINATION ${UPLINK_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/uplinkConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/uplinkConfig.cmake ${PROJECT_BINARY_DIR}/uplinkConfigVersion.cmake
  DESTINATION ${UPLINK_INSTALL_CMAKEDIR} COMPONENT sdk)

# ---- Keeping build-only parts out of the export (see the file comment) ----
# Deferred to the end of the top-level directory, so that link libraries
# added anywhere after this file was included are covered too.
function(_uplink_strip_build_only_dependencies)
  foreach(target IN LISTS UPLINK_INSTALL_TARGETS)
    get_target_property(libs ${target} INTERFACE_LINK_LIBRARIES)
    if(NOT libs)
      continue()
    endif()
    set(rewritten "")
    foreach(lib IN LISTS libs)
      foreach(build_only IN LISTS UPLINK_BUILD_ONLY_TARGETS)
        if(lib STREQUAL build_only)
          set(lib "$<BUILD_INTERFACE:${build_only}>")
        elseif(lib STREQUAL "$<LINK_ONLY:${build_only}>")
          set(lib "$<BUILD_INTERFACE:$<LINK_ONLY:${build_only}>>")
        endif()
      endforeach()
      list(APPEND rewritten "${lib}")
    endforeach()
    set_property(TARGET ${target} PROPERTY INTERFACE_LINK_LIBRARIES "${rewritten}")
  endforeach()

  # uplink::asio: the include directory is the consumer's (uplinkConfig.cmake).
  foreach(property INTERFACE_INCLUDE_DIRECTORIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES)
    get_target_property(dirs uplink_asio ${property})
    if(dirs)
      set(rewritten "")
      foreach(dir IN LISTS dirs)
        if(NOT dir MATCHES "^\\$<")
          set(dir "$<BUILD_INTERFACE:${dir}>")
        endif()
        list(APPEND rewritten "${dir}")
      endforeach()
      set_property(TARGET uplink_asio PROPERTY ${property} "${rewritten}")
    endif()
  endforeach()
endfunction()

# ---- pkg-config: uplink.pc, for uplink::uplink ------------------------------
# Generated from the targets themselves, so that it follows their link
# dependencies and compile definitions: libraries in static link order (a
# library before what it needs), Threads as -pthread, libraries found by path
# (mbedTLS) as -l<name>. The prefix is relative to the .pc file's directory,
# so the installed tree can be moved (and `cmake --install --prefix` works).
function(_uplink_pc_visit target)
  if(TARGET ${target})
    get_target_property(aliased ${target} ALIASED_TARGET)
    if(aliased)
      set(target ${aliased})
    endif()
  endif()
  if(target IN_LIST _uplink_pc_seen)
    return()
  endif()
  list(APPEND _uplink_pc_seen ${target})
  set(_uplink_pc_seen "${_uplink_pc_seen}" PARENT_SCOPE)

  if(target STREQUAL "Threads::Threads")
    set(_uplink_pc_threads ON PARENT_SCOPE)
    return()
  elseif(NOT TARGET ${target})
    # A library given by path or by name (mbedTLS): -l<name>, after its users.
    if(target MATCHES "(^|/)lib([^/]+)\\.(a|so)$")
      list(PREPEND _uplink_pc_libs "-l${CMAKE_MATCH_2}")
    elseif(target MATCHES "^-")
      list(PREPEND _uplink_pc_libs "${target}")
    elseif(NOT target MATCHES "[$<>/]")
      list(PREPEND _uplink_pc_libs "-l${target}")
    endif()
    set(_uplink_pc_libs "${_uplink_pc_libs}" PARENT_SCOPE)
    return()
  elseif(NOT target IN_LIST UPLINK_INSTALL_TARGETS)
    return()  # build-only (its references are $<BUILD_INTERFACE:...> by now)
  endif()

  foreach(property INTERFACE_COMPILE_DEFINITIONS INTERFACE_COMPILE_OPTIONS)
    get_target_property(values ${target} ${property})
    if(NOT values)
      continue()
    endif()
    foreach(value IN LISTS values)
      if(value MATCHES "^\\$<")
        continue()
      elseif(property STREQUAL "INTERFACE_COMPILE_DEFINITIONS")
        set(value "-D${value}")
      endif()
      if(NOT value IN_LIST _uplink_pc_cflags)
        list(APPEND _uplink_pc_cflags "${value}")
      endif()
    endforeach()
  endforeach()
  set(_uplink_pc_cflags "${_uplink_pc_cflags}" PARENT_SCOPE)

  # Dependencies in reverse, each prepended after what it needs: a library
  # ends up before its dependencies, and siblings keep their order (mbedtls
  # mbedx509 mbedcrypto).
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  if(deps)
    list(REVERSE deps)
  endif()
  foreach(dep IN LISTS deps)
    if(dep MATCHES "^\\$<LINK_ONLY:([^$<>]+)>$")
      set(dep "${CMAKE_MATCH_1}")
    elseif(dep MATCHES "^\\$<")
      continue()
    endif()
    _uplink_pc_visit(${dep})
  endforeach()
  set(_uplink_pc_seen "${_uplink_pc_seen}" PARENT_SCOPE)
  set(_uplink_pc_threads "${_uplink_pc_threads}" PARENT_SCOPE)
  set(_uplink_pc_cflags "${_uplink_pc_cflags}" PARENT_SCOPE)

  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    list(PREPEND _uplink_pc_libs "-l$<TARGET_LINKER_FILE_BASE_NAME:${target}>")
  endif()
  set(_uplink_pc_libs "${_uplink_pc_libs}" PARENT_SCOPE)
endfunction()

function(_uplink_write_pkg_config)
  set(_uplink_pc_seen "")
  set(_uplink_pc_libs "")
  set(_uplink_pc_cflags "")
  set(_uplink_pc_threads OFF)
  _uplink_pc_visit(uplink_client)
  if(TARGET uplink_tls)
    _uplink_pc_visit(uplink_tls)  # in front: it needs uplink_net, which follows
  endif()
  if(_uplink_pc_threads)
    list(APPEND _uplink_pc_libs "-pthread")
    list(APPEND _uplink_pc_cflags "-pthread")
  endif()
  list(JOIN _uplink_pc_libs " " libs)
  list(JOIN _uplink_pc_cflags " " cflags)

  set(pcdir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(prefix "${CMAKE_INSTALL_PREFIX}")
  else()
    # ${pcfiledir} up to the prefix: one ".." per component of lib*/pkgconfig.
    string(REGEX REPLACE "[^/]+" ".." up "${pcdir}")
    set(prefix "\${pcfiledir}/${up}")
  endif()
  foreach(dir LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
      set(pc_${dir} "${CMAKE_INSTALL_${dir}}")
    else()
      set(pc_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
    endif()
  endforeach()

  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/uplink.pc CONTENT
"prefix=${prefix}
libdir=${pc_LIBDIR}
includedir=${pc_INCLUDEDIR}

Name: uplink
Description: ${PROJECT_DESCRIPTION} (static libraries; needs libasio-dev)
Version: ${PROJECT_VERSION}
Cflags: -I\${includedir} ${cflags}
Libs: -L\${libdir} ${libs}
")
  install(FILES ${PROJECT_BINARY_DIR}/uplink.pc DESTINATION ${pcdir} COMPONENT sdk)
endfunction()

function(_uplink_finish_install)
  _uplink_strip_build_only_dependencies()
  _uplink_write_pkg_config()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _uplink_finish_install)

# ---- Debian package: libuplink-dev ------------------------------------------
#   cpack --config <build>/CPackConfig.cmake -G DEB
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for a package that uses Debian's
# multiarch library directory (/usr/lib/<triple>).
# The architecture is Debian's name for the target: dpkg's own answer on a
# native build, else derived from the multiarch triple or the processor (a
# cross build must not be labelled with the build machine's architecture).
function(_uplink_debian_architecture out_var)
  if(NOT CMAKE_CROSSCOMPILING)
    find_program(UPLINK_DPKG dpkg)
    mark_as_advanced(UPLINK_DPKG)
    if(UPLINK_DPKG)
      execute_process(COMMAND ${UPLINK_DPKG} --print-architecture
        OUTPUT_VARIABLE arch OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
      if(rc EQUAL 0 AND arch)
        set(${out_var} "${arch}" PARENT_SCOPE)
        return()
      endif()
    endif()
  endif()
  set(triple "${CMAKE_LIBRARY_ARCHITECTURE}")
  set(processor "${CMAKE_SYSTEM_PROCESSOR}")
  if(triple MATCHES "^aarch64-" OR (processor MATCHES "^(aarch64|arm64)$" AND CMAKE_SIZEOF_VOID_P EQUAL 8))
    set(arch arm64)
  elseif(triple MATCHES "^arm-.*gnueabihf$" OR processor MATCHES "^(arm|aarch64)")
    set(arch armhf)  # also a 32-bit userland under a 64-bit kernel
  elseif(triple MATCHES "^x86_64-" OR processor MATCHES "^(x86_64|AMD64|amd64)$")
    set(arch amd64)
  elseif(triple MATCHES "^i[3-6]86-" OR processor MATCHES "^i[3-6]86$")
    set(arch i386)
  else()
    string(TOLOWER "${processor}" arch)
  endif()
  set(${out_var} "${arch}" PARENT_SCOPE)
endfunction()

# ---- The tools: component tools, package uplink-tools -----------------------
# The programs, and the systemd units of tools/service with ExecStart=
# naming where this install puts the programs: written at install time from
# the install's own prefix (cmake --install --prefix P: P/bin; the Debian
# package, which installs with DESTDIR under the prefix /usr: /usr/bin).
set(UPLINK_TOOL_PROGRAMS "")
set(UPLINK_INSTALL_TOOLS OFF)  # ON below when this build installs the tools
foreach(_uplink_tool uplink_server uplink_device uplink_proxy uplink_make_test_pki)
  if(TARGET ${_uplink_tool})
    list(APPEND UPLINK_TOOL_PROGRAMS ${_uplink_tool})
  endif()
endforeach()
if(TARGET uplink_server AND TARGET uplink_device)
  set(UPLINK_INSTALL_SYSTEMDUNITDIR "lib/systemd/system"
      CACHE STRING "Where the systemd units are installed, relative to the prefix")
  mark_as_advanced(UPLINK_INSTALL_SYSTEMDUNITDIR)
  install(TARGETS ${UPLINK_TOOL_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
  set(_uplink_units uplink-server.service uplink-device@.service)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
    set(_uplink_unit_bindir "${CMAKE_INSTALL_BINDIR}")
  else()
    set(_uplink_unit_bindir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
  endif()
  install(CODE "
    set(UPLINK_UNIT_BINDIR \"${_uplink_unit_bindir}\")
    foreach(unit ${_uplink_units})
      configure_file(\"${PROJECT_SOURCE_DIR}/tools/service/\${unit}.in\" \"${PROJECT_BINARY_DIR}/systemd/\${unit}\" @ONLY)
    endforeach()" COMPONENT tools)
  list(TRANSFORM _uplink_units PREPEND ${PROJECT_BINARY_DIR}/systemd/)
  install(FILES ${_uplink_units} DESTINATION ${UPLINK_INSTALL_SYSTEMDUNITDIR} COMPONENT tools)
  set(UPLINK_INSTALL_TOOLS ON)
endif()

if(PROJECT_IS_TOP_LEVEL)  # never take over an embedding project's CPack
  # The license, in Debian's machine-readable copyright format, where a
  # Debian package keeps it (and where a plain install puts it too).
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/debian/copyright
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libuplink-dev COMPONENT sdk)
  if(UPLINK_INSTALL_TOOLS)
    install(FILES ${PROJECT_SOURCE_DIR}/cmake/debian/copyright
      DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/uplink-tools COMPONENT tools)
  endif()
  _uplink_debian_architecture(_uplink_deb_arch)
  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGE_NAME uplink)
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  # CPack's own default summary (CPack.cmake), which CPackDeb does not put
  # in front of a description: each package's synopsis is then the first
  # line of its CPACK_DEBIAN_<COMPONENT>_DESCRIPTION.
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
  set(CPACK_PACKAGE_CONTACT "uplink maintainers <uplink@localhost>" CACHE STRING "Maintainer of the Debian package")
  # One package per install component; installed with DESTDIR under the
  # prefix /usr, so that what is written at install time (the units'
  # ExecStart=) names where the package puts things.
  set(CPACK_DEB_COMPONENT_INSTALL ON)
  set(CPACK_COMPONENTS_ALL sdk)
  set(CPACK_SET_DESTDIR ON)
  set(CPACK_INSTALL_PREFIX /usr)
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_uplink_deb_arch} CACHE STRING "Debian architecture of the packages")
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)  # Depends are written out below
  set(CPACK_STRIP_FILES OFF)

  # libuplink-dev: headers, static libraries, CMake package, uplink.pc.
  set(CPACK_DEBIAN_SDK_PACKAGE_NAME libuplink-dev)
  set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
  # Versions we build and test against (Debian 12). A dependency of an
  # arm64 package is an arm64 package to dpkg (libasio-dev is Architecture:
  # all), so the cross packages need no ":arch" here.
  set(CPACK_DEBIAN_SDK_PACKAGE_DEPENDS "libasio-dev (>= 1:1.22)")
  if(TARGET uplink_tls)
    string(APPEND CPACK_DEBIAN_SDK_PACKAGE_DEPENDS ", libmbedtls-dev (>= 2.28)")
  endif()
  # The first line is the synopsis.
  set(CPACK_DEBIAN_SDK_DESCRIPTION "${PROJECT_DESCRIPTION} (development files)
uplink is a small-footprint C++17 client that keeps an embedded Linux device
connected to its server: heartbeats, silence detection, reconnects with
capped exponential backoff. This package holds the headers, the static
libraries, the CMake package (find_package(uplink)) and uplink.pc.")

  # uplink-tools: the programs and the systemd units. Its Depends are the
  # Debian 12 packages of the shared libraries the programs load (checked
  # against their NEEDED entries by uplink_tools_deb); dpkg-shlibdeps would
  # work out the same natively, but not for the cross builds.
  if(UPLINK_INSTALL_TOOLS)
    list(APPEND CPACK_COMPONENTS_ALL tools)
    set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME uplink-tools)
    set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION net)
    set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1 (>= 3.0)")
    if(TARGET uplink_tls)
      string(APPEND CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS
             ", libmbedtls14 (>= 2.28), libmbedx509-1 (>= 2.28), libmbedcrypto7 (>= 2.28)")
    endif()
    if(UPLINK_TOOLS_SYSTEMD)
      string(APPEND CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS ", libsystemd0")
    endif()
    # daemon-reload after install and removal, when systemd runs.
    set(CPACK_DEBIAN_TOOLS_PACKAGE_CONTROL_EXTRA
        ${PROJECT_SOURCE_DIR}/cmake/debian/uplink-tools/postinst ${PROJECT_SOURCE_DIR}/cmake/debian/uplink-tools/postrm)
    set(CPACK_DEBIAN_TOOLS_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
    set(CPACK_DEBIAN_TOOLS_DESCRIPTION "${PROJECT_DESCRIPTION} (server, emulated device, tools)
The programs that go with the uplink SDK: uplink_server (the reference
server, with durable sessions and TLS), uplink_device (an emulated device,
or a fleet of them), uplink_proxy (a fault-injecting TCP proxy) and
uplink_make_test_pki (throwaway certificates for trying TLS). With the
systemd units uplink-server.service (Type=notify, watchdog, hardened) and
uplink-device@.service (an example for firmware).")
  endif()
  include(CPack)
endif()

# ---- tests/consumer: a project built against the installed package ----------
# Also, in cross builds (the aarch64 and armhf presets), uplink_deb: the
# Debian package built with CPack and checked (architecture, files, ELF
# machine, Depends), then the consumer built against its unpacked contents
# (tests/consumer/check_deb.cmake); the .deb is left in <build>/package.
# Installs this build into <build>/consumer/prefix, builds tests/consumer
# against it with the same compiler (toolchain file, build type), runs the
# result (under the emulator when cross-compiling), then does the same from
# uplink.pc (pkg-config). RUN_SERIAL: it compiles, and must not do so while
# the timing-sensitive loopback tests run. Not in sanitizer builds (the
# consumer would need the sanitizer runtime, which the package does not
# carry: a sanitizer build is not one to install).
if(UPLINK_BUILD_TESTS AND NOT UPLINK_SANITIZE AND NOT UPLINK_BUILD_FUZZERS)
  # How to build and run tests/consumer with this build's compiler.
  set(_uplink_consumer_args
      -DBUILD_DIR=${PROJECT_BINARY_DIR}
      -DSOURCE_DIR=${PROJECT_SOURCE_DIR}/tests/consumer
      -DCONFIG=$<CONFIG>
      -DGENERATOR=${CMAKE_GENERATOR}
      -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
      -DCXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
      -DTOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE})
  # Apart: a list inside a list would be split into several arguments.
  set(_uplink_emulator_arg "-DEMULATOR=${CMAKE_CROSSCOMPILING_EMULATOR}")
  add_test(NAME uplink_consumer
    COMMAND ${CMAKE_COMMAND} ${_uplink_consumer_args} "${_uplink_emulator_arg}"
      -DWORK_DIR=${PROJECT_BINARY_DIR}/consumer
      -P ${PROJECT_SOURCE_DIR}/tests/consumer/run_consumer.cmake)
  set_tests_properties(uplink_consumer PROPERTIES RUN_SERIAL TRUE TIMEOUT 600 LABELS consumer)

  find_program(UPLINK_DPKG_DEB dpkg-deb)
  mark_as_advanced(UPLINK_DPKG_DEB)
  if(CMAKE_CROSSCOMPILING AND PROJECT_IS_TOP_LEVEL AND UPLINK_DPKG_DEB AND CMAKE_READELF)
    add_test(NAME uplink_deb
      COMMAND ${CMAKE_COMMAND} ${_uplink_consumer_args} "${_uplink_emulator_arg}"
        -DWORK_DIR=${PROJECT_BINARY_DIR}/package
        -DCPACK=${CMAKE_CPACK_COMMAND}
        -DARCH=${CPACK_DEBIAN_PACKAGE_ARCHITECTURE}
        -DTRIPLE=${CMAKE_LIBRARY_ARCHITECTURE}
        -DVERSION=${PROJECT_VERSION}
        -DWITH_TLS=$<TARGET_EXISTS:uplink_tls>
        -DREADELF=${CMAKE_READELF}
        -P ${PROJECT_SOURCE_DIR}/tests/consumer/check_deb.cmake)
    set_tests_properties(uplink_deb PROPERTIES RUN_SERIAL TRUE TIMEOUT 600 LABELS consumer)
  endif()
  # uplink_tools_deb: the tools' package (uplink-tools), built and checked
  # the same way, on the host too: architecture, files (programs, units,
  # copyright), ELF machine, Depends against the programs' NEEDED entries,
  # and each program run from the package. The .deb is left in
  # <build>/tools-package.
  if(PROJECT_IS_TOP_LEVEL AND UPLINK_DPKG_DEB AND CMAKE_READELF AND UPLINK_INSTALL_TOOLS)
    add_test(NAME uplink_tools_deb
      COMMAND ${CMAKE_COMMAND} "${_uplink_emulator_arg}"
        -DBUILD_DIR=${PROJECT_BINARY_DIR}
        -DWORK_DIR=${PROJECT_BINARY_DIR}/tools-package
        -DCPACK=${CMAKE_CPACK_COMMAND}
        -DPACKAGE=uplink-tools
        -DARCH=${CPACK_DEBIAN_PACKAGE_ARCHITECTURE}
        -DTRIPLE=${CMAKE_LIBRARY_ARCHITECTURE}
        -DVERSION=${PROJECT_VERSION}
        -DWITH_TLS=$<TARGET_EXISTS:uplink_tls>
        -DWITH_SYSTEMD=${UPLINK_TOOLS_SYSTEMD}
        -DREADELF=${CMAKE_READELF}
        -P ${PROJECT_SOURCE_DIR}/tests/consumer/check_deb.cmake)
    set_tests_properties(uplink_tools_deb PROPERTIES RUN_SERIAL TRUE TIMEOUT 600 LABELS consumer)
  endif()
endif()
