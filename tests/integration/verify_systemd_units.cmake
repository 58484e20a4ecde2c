# SPDX-License-Identifier: Apache-2.0
# The CTest test systemd_units_verify: the tools' systemd units
# (tools/service/*.service.in) written the way the install writes them,
# with ExecStart= naming this build's programs, then checked with
# `systemd-analyze verify`. Any word from it fails the test: it reports an
# unknown directive or a value it cannot parse as a warning, with status 0.
# Without systemd-analyze the test says so and is skipped.
#
#   cmake -DUNITS=<dir of the .in files> -DWORK_DIR=... -DPROGRAMS=<path;path...>
#         [-DSYSTEMD_ANALYZE=...] -P verify_systemd_units.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var UNITS WORK_DIR PROGRAMS)
  if(NOT ${var})
    message(FATAL_ERROR "verify_systemd_units.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT SYSTEMD_ANALYZE)
  find_program(SYSTEMD_ANALYZE systemd-analyze)
endif()
if(NOT SYSTEMD_ANALYZE)
  message("SKIPPED: systemd-analyze not found (Debian: apt-get install systemd); the units were not checked")
  return()
endif()

# ExecStart= names <bindir>/uplink_server: one directory with every program.
file(REMOVE_RECURSE ${WORK_DIR})
set(UPLINK_UNIT_BINDIR ${WORK_DIR}/bin)
file(MAKE_DIRECTORY ${UPLINK_UNIT_BINDIR})
foreach(program IN LISTS PROGRAMS)
  get_filename_component(name ${program} NAME)
  file(CREATE_LINK ${program} ${UPLINK_UNIT_BINDIR}/${name} SYMBOLIC)
endforeach()

file(GLOB templates ${UNITS}/*.service.in)
if(NOT templates)
  message(FATAL_ERROR "systemd_units_verify: no unit in ${UNITS}")
endif()
set(units "")
foreach(template IN LISTS templates)
  get_filename_component(name ${template} NAME)
  string(REGEX REPLACE "\\.in$" "" name ${name})
  configure_file(${template} ${WORK_DIR}/${name} @ONLY)
  list(APPEND units ${WORK_DIR}/${name})
endforeach()

execute_process(COMMAND ${SYSTEMD_ANALYZE} verify --man=no ${units}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
string(STRIP "${out}${err}" said)
if(NOT rc EQUAL 0 OR NOT said STREQUAL "")
  message(FATAL_ERROR "systemd_units_verify: systemd-analyze verify (status ${rc}):\n${said}")
endif()
list(JOIN units ", " shown)
message(STATUS "systemd_units_verify: ${shown}: clean")
