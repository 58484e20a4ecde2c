# SPDX-License-Identifier: Apache-2.0
# libFuzzer targets for the parsers of untrusted input besides the frame
# decoder (issue 12, item 11), each with a committed seed corpus under
# tests/fuzz/corpus/<target>/; scripts/fuzz runs them. Included by
# tests/fuzz/CMakeLists.txt, which sets UPLINK_FUZZ_FLAGS and builds
# uplink_core_fuzz.

# The tools' parsers and the ports they read through, compiled again with
# coverage instrumentation.
add_library(uplink_untrusted_fuzz STATIC
  ${PROJECT_SOURCE_DIR}/tools/reference_server/authenticator.cpp
  ${PROJECT_SOURCE_DIR}/tools/reference_server/server_session.cpp
  ${PROJECT_SOURCE_DIR}/tools/reference_server/session_registry.cpp
  ${PROJECT_SOURCE_DIR}/tools/reference_server/session_journal.cpp
  ${PROJECT_SOURCE_DIR}/tools/emulated_device/device_config.cpp
  ${PROJECT_SOURCE_DIR}/tools/emulated_device/board_telemetry.cpp
  ${PROJECT_SOURCE_DIR}/tools/service/flag_values.cpp
  ${PROJECT_SOURCE_DIR}/ports/raspberrypi/src/board_files.cpp
  ${PROJECT_SOURCE_DIR}/ports/raspberrypi/src/identity.cpp
  ${PROJECT_SOURCE_DIR}/ports/raspberrypi/src/thermal.cpp
  ${PROJECT_SOURCE_DIR}/ports/linux/device_identity_linux.cpp)
target_include_directories(uplink_untrusted_fuzz PUBLIC
  ${PROJECT_SOURCE_DIR}/tools/reference_server
  ${PROJECT_SOURCE_DIR}/tools/emulated_device
  ${PROJECT_SOURCE_DIR}/tools/service
  ${PROJECT_SOURCE_DIR}/ports/raspberrypi/include
  ${PROJECT_SOURCE_DIR}/ports/raspberrypi/src
  ${PROJECT_SOURCE_DIR}/sdk/include)
target_compile_options(uplink_untrusted_fuzz PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
target_link_libraries(uplink_untrusted_fuzz PUBLIC uplink_core_fuzz PRIVATE uplink_build_flags)

set(UPLINK_UNTRUSTED_FUZZ_TARGETS
  server_session_fuzz session_journal_fuzz spool_fuzz device_config_fuzz board_files_fuzz)
foreach(target IN LISTS UPLINK_UNTRUSTED_FUZZ_TARGETS)
  add_executable(${target} ${target}.cpp)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${target} PRIVATE ${UPLINK_FUZZ_FLAGS})
  target_link_options(${target} PRIVATE ${UPLINK_FUZZ_FLAGS})
  target_link_libraries(${target} PRIVATE uplink_untrusted_fuzz uplink_build_flags)
endforeach()

# Writes the binary seeds (spool images, client byte streams, journals)
# into tests/fuzz/corpus/: make_fuzz_seeds <corpus directory>. Run by hand
# when a format changes; its output is committed.
add_executable(make_fuzz_seeds make_fuzz_seeds.cpp)
target_include_directories(make_fuzz_seeds PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(make_fuzz_seeds PRIVATE uplink_untrusted_fuzz uplink_build_flags)
target_link_options(make_fuzz_seeds PRIVATE -fsanitize=address,undefined)
