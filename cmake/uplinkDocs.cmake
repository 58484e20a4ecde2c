# SPDX-License-Identifier: Apache-2.0
# The API reference: Doxygen over the public headers (sdk/include and every
# ports/*/include), configured from docs/Doxyfile.in into
# <build>/docs/api/Doxyfile, HTML in <build>/docs/api/html/.
#
#   cmake --build --preset debug --target docs
#
# Every Doxygen warning is an error (WARN_AS_ERROR), so a public declaration
# without a Doxygen comment fails both the `docs` target and the CTest
# `api_reference` (label docs), which prints the warnings. Debian's
# `doxygen` package (scripts/setup installs it); without it, `docs` fails
# saying so and `api_reference` is skipped with that message.

find_program(UPLINK_DOXYGEN doxygen DOC "Doxygen, for the API reference (target docs, test api_reference)")

set(UPLINK_DOCS_DIR "${PROJECT_BINARY_DIR}/docs/api")
file(GLOB UPLINK_PORT_INCLUDE_DIRS LIST_DIRECTORIES true "${PROJECT_SOURCE_DIR}/ports/*/include")
list(SORT UPLINK_PORT_INCLUDE_DIRS)
set(UPLINK_DOCS_INCLUDE_DIRS "${PROJECT_SOURCE_DIR}/sdk/include" ${UPLINK_PORT_INCLUDE_DIRS})
# Doxyfile lists: one quoted path each, so a source tree with spaces works.
set(UPLINK_DOCS_INPUT "\"${PROJECT_SOURCE_DIR}/docs/api.dox\"")
set(UPLINK_DOCS_STRIP_FROM_PATH "")
foreach(dir IN LISTS UPLINK_DOCS_INCLUDE_DIRS)
  string(APPEND UPLINK_DOCS_INPUT " \"${dir}\"")
  string(APPEND UPLINK_DOCS_STRIP_FROM_PATH " \"${dir}\"")
endforeach()
set(UPLINK_DOCS_OUTPUT_DIR "\"${UPLINK_DOCS_DIR}\"")
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${UPLINK_DOCS_DIR}/Doxyfile" @ONLY)

set(UPLINK_DOCS_MISSING "doxygen is not installed: apt-get install doxygen (scripts/setup does)")
if(UPLINK_DOXYGEN)
  add_custom_target(docs
    COMMAND "${UPLINK_DOXYGEN}" "${UPLINK_DOCS_DIR}/Doxyfile"
    COMMAND "${CMAKE_COMMAND}" -E echo "API reference: ${UPLINK_DOCS_DIR}/html/index.html"
    WORKING_DIRECTORY "${UPLINK_DOCS_DIR}"
    COMMENT "Building the API reference (Doxygen, warnings are errors)"
    VERBATIM)
else()
  message(STATUS "${UPLINK_DOCS_MISSING}; target docs fails, test api_reference is skipped")
  add_custom_target(docs
    COMMAND "${CMAKE_COMMAND}" -E echo "${UPLINK_DOCS_MISSING}"
    COMMAND "${CMAKE_COMMAND}" -E false
    VERBATIM)
endif()

# The headers are the same in every configuration, so one configuration
# that scripts/test runs checks them: asan (and debug or release on a desk),
# not noexcept or the cross builds, which would only repeat it.
set(UPLINK_API_REFERENCE_TEST_DEFAULT OFF)
if(UPLINK_BUILD_TESTS AND NOT UPLINK_NO_EXCEPTIONS AND NOT CMAKE_CROSSCOMPILING)
  set(UPLINK_API_REFERENCE_TEST_DEFAULT ON)
endif()
option(UPLINK_API_REFERENCE_TEST "Register the CTest api_reference (Doxygen, warnings are errors)"
       ${UPLINK_API_REFERENCE_TEST_DEFAULT})
if(UPLINK_API_REFERENCE_TEST AND UPLINK_BUILD_TESTS)
  if(UPLINK_DOXYGEN)
    add_test(NAME api_reference COMMAND "${UPLINK_DOXYGEN}" "${UPLINK_DOCS_DIR}/Doxyfile"
             WORKING_DIRECTORY "${UPLINK_DOCS_DIR}")
  else()
    add_test(NAME api_reference COMMAND "${CMAKE_COMMAND}" -E echo "SKIPPED: ${UPLINK_DOCS_MISSING}")
    set_tests_properties(api_reference PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED: doxygen")
  endif()
  set_tests_properties(api_reference PROPERTIES LABELS docs TIMEOUT 120)
endif()
