# SPDX-License-Identifier: Apache-2.0
# An application built with other capacities than the libraries must fail
# to link, with a message that names them (uplink/config_defaults.hpp), and
# one built with the same must link.
#
#   cmake -DCXX=c++ -DINCLUDE=sdk/include -DCORE=libuplink_core.a
#         -DDEFINITIONS="UPLINK_X=1;..." -DWORK_DIR=dir -DSOURCE=capacities_probe.cpp -P check_capacities.cmake
cmake_minimum_required(VERSION 3.25)

function(build name result_var output_var)
  set(extra ${ARGN})
  set(defines "")
  foreach(definition IN LISTS DEFINITIONS extra)
    if(definition)
      list(APPEND defines "-D${definition}")
    endif()
  endforeach()
  execute_process(
    COMMAND ${CXX} -std=c++17 ${defines} -I${INCLUDE} ${SOURCE} ${CORE} -o ${WORK_DIR}/${name}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(${result_var} ${rc} PARENT_SCOPE)
  set(${output_var} "${out}" PARENT_SCOPE)
endfunction()

file(MAKE_DIRECTORY ${WORK_DIR})
build(same rc out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a program built with the library's own capacities does not link:\n${out}")
endif()
# Another store size than the library's (whatever that is).
if(DEFINITIONS MATCHES "UPLINK_STORE_BYTES=8192")
  set(other UPLINK_STORE_BYTES=12288)
else()
  set(other UPLINK_STORE_BYTES=8192)
endif()
list(FILTER DEFINITIONS EXCLUDE REGEX "^UPLINK_STORE_BYTES=")
build(other rc out ${other})
if(rc EQUAL 0)
  message(FATAL_ERROR "a program built with ${other} linked against a library built with other capacities")
endif()
if(NOT out MATCHES "undefined reference to [`']uplink_capacities_[a-z0-9_]+'")
  message(FATAL_ERROR "the link failed, but without naming the capacities:\n${out}")
endif()
message(STATUS "check_capacities: same capacities link; ${other} is refused at link time:\n${CMAKE_MATCH_0}")
