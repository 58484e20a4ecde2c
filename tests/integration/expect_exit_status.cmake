# SPDX-License-Identifier: Apache-2.0
# Runs a program and checks its exit status (CTest itself only tells zero
# from non-zero), and optionally what it printed. With LIMITS, the program
# runs under those `ulimit` settings of the shell (e.g. "-S -n 64").
#
#   cmake -DPROGRAM=... "-DARGS=a;b" -DSTATUS=1 [-DOUTPUT=<regex>] [-DLIMITS="-S -n 64"]
#         -P expect_exit_status.cmake
cmake_minimum_required(VERSION 3.25)

if(NOT PROGRAM OR NOT DEFINED STATUS)
  message(FATAL_ERROR "expect_exit_status.cmake: PROGRAM and STATUS must be set")
endif()
set(command ${PROGRAM} ${ARGS})
if(LIMITS)
  # `ulimit` per setting, then exec: the limits are the program's own.
  set(script "")
  string(REPLACE ";" " " limits "${LIMITS}")
  string(REPLACE "," ";" settings "${limits}")
  foreach(setting IN LISTS settings)
    string(APPEND script "ulimit ${setting} && ")
  endforeach()
  set(command sh -c "${script}exec \"$0\" \"$@\"" ${command})
endif()
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
list(JOIN command " " shown)
if(NOT rc STREQUAL "${STATUS}")
  message(FATAL_ERROR "${shown}: exit status ${rc}, expected ${STATUS}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(OUTPUT AND NOT "${out}${err}" MATCHES "${OUTPUT}")
  message(FATAL_ERROR "${shown}: its output does not match '${OUTPUT}':\n${out}${err}")
endif()
message(STATUS "${shown}: exit status ${rc}, as expected\n${err}")
