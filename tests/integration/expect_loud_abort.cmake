# SPDX-License-Identifier: Apache-2.0
# Runs PROGRAM and passes only when it ends abnormally (CTest itself counts a
# signal as a failure whatever the output) having printed MESSAGE (a regular
# expression) on stderr, and without printing "the destructor returned".
#   cmake -DPROGRAM=... -DMESSAGE=... -P expect_loud_abort.cmake
execute_process(COMMAND ${PROGRAM} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE result)
if(result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited 0; expected a loud abort. stdout: ${out} stderr: ${err}")
endif()
if(NOT err MATCHES "${MESSAGE}")
  message(FATAL_ERROR "${PROGRAM} ended (${result}) without the expected message '${MESSAGE}'. stderr: ${err}")
endif()
if(out MATCHES "the destructor returned")
  message(FATAL_ERROR "${PROGRAM}: the destructor returned")
endif()
message(STATUS "aborted as expected (${result}): ${err}")
