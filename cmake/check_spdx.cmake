# SPDX-License-Identifier: Apache-2.0
# Fails naming every source file whose first lines do not carry the
# project's SPDX license identifier. Run with -DROOT=<source dir> (cmake -P);
# registered as the CTest spdx_headers.
cmake_minimum_required(VERSION 3.25)
set(tag "SPDX-License-Identifier: Apache-2.0")
set(missing "")
foreach(dir sdk ports tools tests samples bench scripts toolchains cmake .ci)
  file(GLOB_RECURSE files LIST_DIRECTORIES false
       "${ROOT}/${dir}/*.cpp" "${ROOT}/${dir}/*.hpp" "${ROOT}/${dir}/*.h" "${ROOT}/${dir}/*.cmake"
       "${ROOT}/${dir}/*.in" "${ROOT}/${dir}/*.sh" "${ROOT}/${dir}/CMakeLists.txt")
  list(APPEND candidates ${files})
endforeach()
list(APPEND candidates "${ROOT}/CMakeLists.txt" "${ROOT}/scripts/setup" "${ROOT}/scripts/test" "${ROOT}/scripts/demo"
     "${ROOT}/scripts/fuzz" "${ROOT}/scripts/pi-test" "${ROOT}/.ci/run" "${ROOT}/bench/run")
foreach(file IN LISTS candidates)
  if(file MATCHES "/tests/ports/" OR NOT EXISTS "${file}")
    continue()
  endif()
  file(STRINGS "${file}" head LIMIT_COUNT 3)
  string(FIND "${head}" "${tag}" at)
  if(at EQUAL -1)
    file(RELATIVE_PATH relative "${ROOT}" "${file}")
    list(APPEND missing "${relative}")
  endif()
endforeach()
if(missing)
  list(JOIN missing "\n  " text)
  message(FATAL_ERROR "these files lack the line '${tag}' near the top:\n  ${text}")
endif()
