# SPDX-License-Identifier: Apache-2.0
# size_report: what the SDK costs in flash and RAM at -Os, for this toolchain.
#
# Use, from the top-level CMakeLists.txt after add_subdirectory(ports):
#
#   include(cmake/uplinkSizeReport.cmake)
#
#   cmake --preset aarch64 && cmake --build --preset aarch64 --target size_report
#   cmake --preset armhf   && cmake --build --preset armhf   --target size_report
#
# The figures never come from the build it is called in (a RelWithDebInfo,
# i.e. -O2, or a debug build): the target configures and builds three
# sub-builds of just the libraries, the minimal device and a probe, under
# <build dir>/size-Os/{notls,tls,nomqtt}, with the same compiler or toolchain
# file, CMAKE_BUILD_TYPE=MinSizeRel (-Os -DNDEBUG), -ffunction-sections
# -fdata-sections, and the minimal device linked with -Wl,--gc-sections: what a
# firmware build does. One without TLS (UPLINK_WITH_TLS=OFF), one with, and
# one without TLS and without the MQTT profile (UPLINK_WITH_MQTT=OFF), whose
# minimal device shows what the MQTT switch saves. The MQTT row counts the
# core's objects of UPLINK_MQTT_SOURCES (sdk/cmake/uplinkFilePaths.cmake);
# on armhf the report sets it against its budget (below). The sub-builds
# take a few minutes the first time and seconds afterwards; CI does not run
# them. UPLINK_NO_EXCEPTIONS is passed on, so the `noexcept`
# preset reports the -fno-exceptions -fno-rtti profile.
#
# Written to <build dir>/size_report.md (the Markdown table the README
# carries, verbatim) and <build dir>/size_report.txt (the same, plus `size -t`
# per object of every archive of the TLS build), and printed.
#
# Columns are Berkeley `size` ones: text = code + read-only data (.rodata,
# .eh_frame...), data = initialised RAM, bss = zeroed RAM. Archive totals are
# not a program's size: the linker takes only the sections a program needs
# and one copy of the inline and template code several objects carry; the
# linked minimal device is the figure for a real program (dynamically linked
# against libstdc++ and libc, and against mbedTLS when with TLS, none of
# which is counted). The static RAM of a client is sizeof(uplink::Client),
# read from the probe's symbols with `nm -S` (no need to run on the target):
# every buffer it uses after start() is inside it. mbedTLS's heap per
# connection cannot be read from objects: when the build has the TLS tests
# (uplink_tls_tests, built without sanitizers), the target builds them and
# runs TlsEngine.ReportsTheHeapBytesOfAConnection (through
# CMAKE_CROSSCOMPILING_EMULATOR when cross-compiling, i.e. under qemu-user)
# and puts its figures into a third table. The heap is mbedTLS's, from the
# system's library, so the build type of the test does not change it.
#
# Drift guard: the report ends by looking for its size and static RAM tables,
# verbatim, and the heading of its heap table in the README, and prints
# "README.md is stale" when they are not there (a warning, not an error: a
# table is regenerated on purpose, then pasted). The heap figures themselves
# are not compared: they move by a few dozen bytes from run to run (the test
# makes its certificates, whose signatures vary in length, at run time).
#
# The target exists only when a `size` and an `nm` for the current compiler
# are found: CMAKE_SIZE if set (e.g. -DCMAKE_SIZE=/opt/x/bin/arm-none-eabi-size),
# else the `size` next to the toolchain's `nm` (aarch64-linux-gnu-nm ->
# aarch64-linux-gnu-size, llvm-nm-14 -> llvm-size-14), else <triple>-size,
# else plain `size` for a native build. A cross build never falls back to the
# host's `size`, which may not read the target's objects.
#
# This file is also the script that runs the sub-builds and writes the report
# (cmake -P, below).

if(CMAKE_SCRIPT_MODE_FILE)
  # ---- script mode: cmake -DSOURCE_DIR=... -DWORK_DIR=... -DOUTPUT=... -P this file
  function(fail)
    list(JOIN ARGN "" text)
    message(FATAL_ERROR "size_report: ${text}")
  endfunction()

  function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
      list(JOIN ARGN " " shown)
      fail("command failed (${rc}): ${shown}\n${out}")
    endif()
  endfunction()

  # 41140 -> 41,140
  function(thousands out_var value)
    set(text "${value}")
    while(text MATCHES "^([0-9]+)([0-9][0-9][0-9])(.*)$")
      set(text "${CMAKE_MATCH_1},${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
    endwhile()
    set(${out_var} "${text}" PARENT_SCOPE)
  endfunction()

  # text/data/bss of an archive (its TOTALS) or of a linked program.
  function(measure prefix file)
    execute_process(COMMAND "${SIZE}" -t "${file}" OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      fail("${SIZE} -t ${file} failed: ${err}")
    endif()
    string(REGEX MATCHALL "[^\n]+" lines "${out}")
    list(GET lines -1 last)
    if(NOT last MATCHES "^[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t]+([0-9]+)[ \t]+")
      fail("unexpected output of ${SIZE} -t ${file}: ${out}")
    endif()
    set(${prefix}_text ${CMAKE_MATCH_1} PARENT_SCOPE)
    set(${prefix}_data ${CMAKE_MATCH_2} PARENT_SCOPE)
    set(${prefix}_bss ${CMAKE_MATCH_3} PARENT_SCOPE)
  endfunction()

  # text/data/bss summed over the members of an archive whose object name
  # matches `pattern` (a part of a library, e.g. the MQTT objects of the core).
  function(measure_members prefix file pattern)
    execute_process(COMMAND "${SIZE}" "${file}" OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      fail("${SIZE} ${file} failed: ${err}")
    endif()
    string(REGEX MATCHALL "[^\n]+" lines "${out}")
    foreach(column text data bss)
      set(${column} 0)
    endforeach()
    set(members 0)
    foreach(line IN LISTS lines)
      if(line MATCHES "^[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t]+([0-9]+)[ \t]+[0-9]+[ \t]+[0-9a-f]+[ \t]+(.*)$")
        # Taken before the name is matched, which overwrites CMAKE_MATCH_<n>.
        set(member_text ${CMAKE_MATCH_1})
        set(member_data ${CMAKE_MATCH_2})
        set(member_bss ${CMAKE_MATCH_3})
        if(CMAKE_MATCH_4 MATCHES "${pattern}")
          math(EXPR text "${text} + ${member_text}")
          math(EXPR data "${data} + ${member_data}")
          math(EXPR bss "${bss} + ${member_bss}")
          math(EXPR members "${members} + 1")
        endif()
      endif()
    endforeach()
    if(members EQUAL 0)
      fail("no member of ${file} matches ${pattern}")
    endif()
    set(${prefix}_text ${text} PARENT_SCOPE)
    set(${prefix}_data ${data} PARENT_SCOPE)
    set(${prefix}_bss ${bss} PARENT_SCOPE)
  endfunction()

  # The same members' text split in two: code and constants (.text*,
  # .rodata*) and the tables for unwinding exceptions (on armhf .ARM.exidx*
  # and .ARM.extab*, an index entry of 8 bytes a function, which the linker
  # merges where neighbours are alike; elsewhere .eh_frame and
  # .gcc_except_table; -fno-exceptions leaves them out). Fails unless the
  # two add up to what `size` counts as their text.
  function(measure_member_sections prefix file pattern expected_text)
    execute_process(COMMAND "${SIZE}" -A "${file}" OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      fail("${SIZE} -A ${file} failed: ${err}")
    endif()
    string(REGEX MATCHALL "[^\n]+" lines "${out}")
    set(code 0)
    set(unwind 0)
    set(in_member FALSE)
    foreach(line IN LISTS lines)
      if(line MATCHES "^([^ \t]+)[ \t]+\\(ex ")
        set(in_member FALSE)
        if(CMAKE_MATCH_1 MATCHES "${pattern}")
          set(in_member TRUE)
        endif()
      elseif(in_member AND line MATCHES "^(\\.[^ \t]+)[ \t]+([0-9]+)")
        # Taken before the name is matched, which overwrites CMAKE_MATCH_<n>.
        set(section "${CMAKE_MATCH_1}")
        set(bytes ${CMAKE_MATCH_2})
        if(section MATCHES "^\\.(text|rodata)")
          math(EXPR code "${code} + ${bytes}")
        elseif(section MATCHES "^\\.(ARM\\.ex(idx|tab)|eh_frame|gcc_except_table)")
          math(EXPR unwind "${unwind} + ${bytes}")
        endif()
      endif()
    endforeach()
    math(EXPR total "${code} + ${unwind}")
    if(NOT total EQUAL expected_text)
      fail("the sections of the members of ${file} matching ${pattern} add up to ${total} bytes, "
           "not the ${expected_text} of text that ${SIZE} counts")
    endif()
    set(${prefix}_code ${code} PARENT_SCOPE)
    set(${prefix}_unwind ${unwind} PARENT_SCOPE)
  endfunction()

  function(find_output out_var dir name)
    file(GLOB_RECURSE found LIST_DIRECTORIES false "${dir}/*/${name}" "${dir}/${name}")
    list(FILTER found EXCLUDE REGEX "/CMakeFiles/")
    if(NOT found)
      fail("${name} not found under ${dir}")
    endif()
    list(GET found 0 first)
    set(${out_var} "${first}" PARENT_SCOPE)
  endfunction()

  # sizeof(T), from the size of the probe symbol uplink_sizeof_<name>.
  function(probe out_var archive name)
    execute_process(COMMAND "${NM}" -S -t d --defined-only "${archive}" OUTPUT_VARIABLE out RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "[0-9]+ 0*([0-9]+) [A-Za-z] uplink_sizeof_${name}\n")
      fail("no uplink_sizeof_${name} in ${NM} -S of ${archive}")
    endif()
    set(${out_var} ${CMAKE_MATCH_1} PARENT_SCOPE)
  endfunction()

  # CXX_FLAGS: the calling build's own (a toolchain file's -march, -mfpu...,
  # which a CMAKE_CXX_FLAGS given here would otherwise replace).
  set(common -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=MinSizeRel
      "-DCMAKE_CXX_FLAGS=${CXX_FLAGS} -ffunction-sections -fdata-sections" "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--gc-sections"
      -DUPLINK_BUILD_TESTS=OFF -DUPLINK_BUILD_BENCH=OFF -DUPLINK_BUILD_SAMPLES=ON -DUPLINK_BUILD_TOOLS=OFF -DUPLINK_BUILD_FUZZERS=OFF
      -DUPLINK_SANITIZE=OFF -DUPLINK_INSTALL=OFF -DUPLINK_NO_EXCEPTIONS=${NO_EXCEPTIONS}
      -DUPLINK_SIZE_SUBBUILD=ON)
  if(TOOLCHAIN_FILE)
    list(APPEND common "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE}")
  else()
    list(APPEND common "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
  endif()

  # notls and tls: the SDK as shipped (the MQTT profile in); nomqtt: the
  # minimal device of a firmware that speaks only the native protocol
  # (UPLINK_WITH_MQTT=OFF), what the switch saves.
  foreach(variant notls tls nomqtt)
    set(dir "${WORK_DIR}/${variant}")
    set(targets uplink_core uplink_client uplink_net uplink_asio uplink_port_linux uplink_minimal_device
                uplink_size_probe)
    set(with_tls OFF)
    set(with_mqtt ON)
    if(variant STREQUAL "tls")
      set(with_tls ON)
      list(APPEND targets uplink_tls)
    elseif(variant STREQUAL "nomqtt")
      set(with_mqtt OFF)
    endif()
    message(STATUS "size_report: -Os build ${variant} in ${dir}")
    run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${dir}" ${common} -DUPLINK_WITH_TLS=${with_tls}
        -DUPLINK_WITH_MQTT=${with_mqtt})
    run("${CMAKE_COMMAND}" --build "${dir}" --target ${targets})
    foreach(library uplink_core uplink_client uplink_net uplink_asio uplink_port_linux)
      find_output(file "${dir}" "lib${library}.a")
      measure(${variant}_${library} "${file}")
      list(APPEND ${variant}_archives "${file}")
    endforeach()
    # The MQTT 3.1.1 profile's part of the core: the objects of
    # UPLINK_MQTT_SOURCES (sdk/cmake/uplinkFilePaths.cmake), i.e. its codec,
    # error category, topics, envelope, in-flight table and the profile.
    if(with_mqtt)
      find_output(file "${dir}" "libuplink_core.a")
      measure_members(${variant}_mqtt "${file}" "^(mqtt_[a-z_]+|in_flight_table)\\.cpp\\.o")
      measure_member_sections(${variant}_mqtt "${file}" "^(mqtt_[a-z_]+|in_flight_table)\\.cpp\\.o"
                              ${${variant}_mqtt_text})
    endif()
    find_output(device "${dir}" uplink_minimal_device)
    measure(${variant}_device "${device}")
    find_output(probe_archive "${dir}" libuplink_size_probe.a)
    probe(${variant}_sizeof_client "${probe_archive}" client)
    probe(${variant}_sizeof_spool "${probe_archive}" spool)
  endforeach()
  find_output(file "${WORK_DIR}/tls" libuplink_tls.a)
  measure(tls_uplink_tls "${file}")
  list(APPEND tls_archives "${file}")
  find_output(probe_archive "${WORK_DIR}/tls" libuplink_size_probe.a)
  probe(tls_sizeof_tls_engine "${probe_archive}" tls_engine)

  set(rows "")
  macro(row label prefix)
    foreach(column text data bss)
      thousands(${column} "${${prefix}_${column}}")
    endforeach()
    string(APPEND rows "| ${label} | ${text} | ${data} | ${bss} |\n")
  endmacro()
  macro(sum prefix)
    foreach(column text data bss)
      set(${prefix}_${column} 0)
      foreach(part ${ARGN})
        math(EXPR ${prefix}_${column} "${${prefix}_${column}} + ${${part}_${column}}")
      endforeach()
    endforeach()
  endmacro()
  sum(notls_sdk notls_uplink_core notls_uplink_client notls_uplink_net notls_uplink_asio notls_uplink_port_linux)
  sum(tls_sdk tls_uplink_core tls_uplink_client tls_uplink_net tls_uplink_asio tls_uplink_port_linux tls_uplink_tls)
  row("`uplink_core` (codec, session, store, spool)" notls_uplink_core)
  row("of which MQTT 3.1.1 (codec, topics, envelope, in-flight table, profile)" notls_mqtt)
  row("`uplink_core` without MQTT (`UPLINK_WITH_MQTT=OFF`)" nomqtt_uplink_core)
  row("`uplink_client` (the Asio shell)" notls_uplink_client)
  row("`uplink_net` (the stream seam and TCP)" notls_uplink_net)
  row("`uplink_asio` (Asio's compiled implementation)" notls_uplink_asio)
  row("`uplink_port_linux`" notls_uplink_port_linux)
  row("**SDK without TLS** (the five archives)" notls_sdk)
  row("`uplink_tls` (our TLS layer and TlsStream, without mbedTLS itself)" tls_uplink_tls)
  row("**SDK with TLS** (the six archives)" tls_sdk)
  # The sample does not use TLS, and the client no longer drives it: built
  # with or without uplink_tls, the program is the same.
  row("`uplink_minimal_device` (no TLS), linked with `--gc-sections`" notls_device)
  row("`uplink_minimal_device` without MQTT (`UPLINK_WITH_MQTT=OFF`)" nomqtt_device)
  foreach(column text data bss)
    math(EXPR saved_${column} "${notls_device_${column}} - ${nomqtt_device_${column}}")
  endforeach()
  row("what MQTT 3.1.1 adds to the minimal device (the two rows above)" saved)
  foreach(name notls_sizeof_client tls_sizeof_client nomqtt_sizeof_client notls_sizeof_spool tls_sizeof_tls_engine)
    thousands(${name}_text "${${name}}")
  endforeach()

  # mbedTLS's heap per connection, from the TLS test's printed figures.
  set(heap_table "")
  if(HEAP_TEST)
    string(REPLACE "|" ";" emulator "${EMULATOR}")
    execute_process(COMMAND ${emulator} "${HEAP_TEST}" -sg TlsEngine -sn ReportsTheHeapBytesOfAConnection -v
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
      fail("the heap test failed (${rc}): ${emulator} ${HEAP_TEST}\n${out}")
    endif()
    # The lines the test prints (tests/tls/tls_engine_test.cpp).
    if(NOT out MATCHES "client: setup ([0-9]+) B; full handshake: peak \\+([0-9]+) B")
      fail("no client setup/handshake line in the output of the heap test:\n${out}")
    endif()
    thousands(heap_setup ${CMAKE_MATCH_1})
    thousands(heap_peak ${CMAKE_MATCH_2})
    if(NOT out MATCHES "per connection while open: client ([0-9]+) B")
      fail("no 'per connection while open' line in the output of the heap test:\n${out}")
    endif()
    thousands(heap_open ${CMAKE_MATCH_1})
    if(NOT out MATCHES "TlsConfig, shared by all connections: client \\(one CA\\) ([0-9]+) B")
      fail("no TlsConfig line in the output of the heap test:\n${out}")
    endif()
    thousands(heap_config ${CMAKE_MATCH_1})
    string(REGEX REPLACE ",.*" "" target_name "${TITLE}")
    string(APPEND heap_table "\n| mbedTLS heap per connection (${target_name}, measured at run time) | bytes |\n|---|---:|\n")
    string(APPEND heap_table "| at `TlsEngine::setup()` (the two record buffers) | ${heap_setup} |\n")
    string(APPEND heap_table "| held while open, after a full handshake | ${heap_open} |\n")
    string(APPEND heap_table "| peak above the setup figure, during a full handshake | ${heap_peak} |\n")
    string(APPEND heap_table "| `TlsConfig` (client, one CA), shared by all connections | ${heap_config} |\n")
  endif()

  set(table "| ${TITLE} | text | data | bss |\n|---|---:|---:|---:|\n${rows}\n")
  # The MQTT 3.1.1 codec and profile have a budget of text on armhf
  # (docs/MQTT.md, Footprint; coreMQTT 3.1.1 is 7.0 KB at -Os on Cortex-M,
  # the code and constants of its C objects). Two counts are set against
  # it, and an excess is said: the code and constants of its objects, and
  # everything it adds to a linked device. The objects' unwind index is
  # shown beside them: C has none, -fno-exceptions leaves it out, and a
  # linked device keeps what the second count includes of it.
  set(mqtt_text_budget 8192)
  if(TITLE MATCHES "^arm-linux-gnueabihf")
    thousands(budget_text ${mqtt_text_budget})
    string(APPEND table "| MQTT 3.1.1 against its budget of ${budget_text} bytes of text (armhf) | text | over (+) or under (-) |\n")
    string(APPEND table "|---|---:|---:|\n")
    foreach(entry "its code and constants (`.text` and `.rodata` of its objects)|notls_mqtt_code"
                  "what it adds to the minimal device (linked: all of it)|saved_text")
      string(REPLACE "|" ";" entry "${entry}")
      list(GET entry 0 label)
      list(GET entry 1 name)
      math(EXPR margin "${${name}} - ${mqtt_text_budget}")
      set(sign "+")
      if(margin LESS 0)
        math(EXPR margin "0 - ${margin}")
        set(sign "-")
      endif()
      thousands(shown ${${name}})
      thousands(margin ${margin})
      string(APPEND table "| ${label} | ${shown} | ${sign}${margin} |\n")
      if(sign STREQUAL "+")
        message(WARNING "size_report: MQTT 3.1.1, ${label}: ${shown} bytes of text, over its budget of ${budget_text}")
      endif()
    endforeach()
    thousands(unwind ${notls_mqtt_unwind})
    string(APPEND table "| beside it, its objects' unwind index (`.ARM.exidx`, `.ARM.extab`; none with `-fno-exceptions`) | ${unwind} | |\n")
    string(APPEND table "\n")
  endif()
  string(APPEND table "| Static RAM (${TITLE}) | bytes |\n|---|---:|\n")
  # The client drives a net::Stream: its layout does not depend on TLS.
  if(NOT notls_sizeof_client_text STREQUAL tls_sizeof_client_text)
    fail("sizeof(uplink::Client) differs with TLS (${tls_sizeof_client_text}) and without (${notls_sizeof_client_text})")
  endif()
  string(APPEND table "| `sizeof(uplink::Client)` (the same with or without TLS) | ${notls_sizeof_client_text} |\n")
  string(APPEND table "| `sizeof(uplink::Client)` without MQTT (`UPLINK_WITH_MQTT=OFF`) | ${nomqtt_sizeof_client_text} |\n")
  string(APPEND table "| `sizeof(uplink::Spool)` (optional) | ${notls_sizeof_spool_text} |\n")
  string(APPEND table "| `sizeof(uplink::tls::TlsEngine)` (with TLS; plus mbedTLS's heap) | ${tls_sizeof_tls_engine_text} |\n")
  set(sizes_table "${table}")  # deterministic; the heap figures vary by a few dozen bytes per run
  string(APPEND table "${heap_table}")
  get_filename_component(md "${OUTPUT}" NAME_WE)
  get_filename_component(out_dir "${OUTPUT}" DIRECTORY)
  file(WRITE "${out_dir}/${md}.md" "${table}")

  execute_process(COMMAND "${SIZE}" -t ${tls_archives} WORKING_DIRECTORY "${WORK_DIR}/tls"
                  OUTPUT_VARIABLE per_object RESULT_VARIABLE rc)
  string(REPLACE "${WORK_DIR}/tls/" "" per_object "${per_object}")
  set(report "uplink size report: ${TITLE}\n")
  string(APPEND report "Builds: ${WORK_DIR}/{notls,tls}, CMAKE_BUILD_TYPE=MinSizeRel (-Os -DNDEBUG), ")
  string(APPEND report "-ffunction-sections -fdata-sections, programs linked with -Wl,--gc-sections\n")
  string(APPEND report "Tool: ${SIZE} (Berkeley: text = code + read-only data, data = initialised RAM, bss = zeroed RAM)\n\n")
  string(APPEND report "${table}\nPer object (with TLS):\n${per_object}")
  file(WRITE "${OUTPUT}" "${report}")

  # The README carries every toolchain's table verbatim: say when this one is not there.
  if(README AND EXISTS "${README}")
    file(READ "${README}" readme)
    string(FIND "${readme}" "${sizes_table}" at)
    if(heap_table)
      string(REGEX MATCH "\n(\\| mbedTLS heap[^\n]*)\n" heading "${heap_table}")
      string(FIND "${readme}" "${CMAKE_MATCH_1}" heap_at)
      if(heap_at EQUAL -1)
        set(at -1)
      endif()
    endif()
    if(at EQUAL -1)
      message(WARNING "size_report: README.md is stale: its Footprint section does not carry this table "
                      "verbatim. Paste ${out_dir}/${md}.md into it, replacing the tables of this toolchain.")
    else()
      message(STATUS "size_report: README.md's Footprint section carries this table verbatim")
    endif()
  endif()
  return()
endif()

# ---- configure mode ----------------------------------------------------------
if(UPLINK_SIZE_SUBBUILD)
  # Inside size_report's own sub-build: the sizeof probe, and no nested report.
  add_library(uplink_size_probe STATIC ${CMAKE_CURRENT_LIST_DIR}/uplink_size_probe.cpp)
  target_link_libraries(uplink_size_probe PRIVATE uplink_client uplink_build_flags)
  if(TARGET uplink_tls)
    target_link_libraries(uplink_size_probe PRIVATE uplink_tls)
  endif()
  return()
endif()

if(NOT CMAKE_SIZE)
  set(uplink_size_names "")
  set(uplink_size_hints "")
  if(CMAKE_NM)
    get_filename_component(uplink_nm_dir "${CMAKE_NM}" DIRECTORY)
    get_filename_component(uplink_nm_name "${CMAKE_NM}" NAME)
    if(uplink_nm_name MATCHES "^(.*)nm(-[0-9.]+)?(\\.exe)?$")
      list(APPEND uplink_size_names "${CMAKE_MATCH_1}size${CMAKE_MATCH_2}")
      list(APPEND uplink_size_hints "${uplink_nm_dir}")
    endif()
  endif()
  foreach(uplink_triple IN ITEMS ${UPLINK_CROSS_TRIPLE} ${CMAKE_CXX_COMPILER_TARGET} ${CMAKE_LIBRARY_ARCHITECTURE})
    list(APPEND uplink_size_names "${uplink_triple}-size")
  endforeach()
  if(NOT CMAKE_CROSSCOMPILING)
    list(APPEND uplink_size_names size)
  endif()
  list(REMOVE_DUPLICATES uplink_size_names)
  if(uplink_size_names)
    find_program(CMAKE_SIZE NAMES ${uplink_size_names} HINTS ${uplink_size_hints}
                 DOC "size(1) for the target's objects (size_report)")
  endif()
endif()

if(NOT CMAKE_SIZE OR NOT CMAKE_NM)
  message(STATUS "size_report: no size or nm tool for this compiler (set CMAKE_SIZE): target not created")
else()
  set(uplink_size_title "${CMAKE_SYSTEM_PROCESSOR}")
  if(CMAKE_LIBRARY_ARCHITECTURE)
    set(uplink_size_title "${CMAKE_LIBRARY_ARCHITECTURE}")
  endif()
  string(APPEND uplink_size_title ", ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}, -Os")
  if(UPLINK_NO_EXCEPTIONS)
    string(APPEND uplink_size_title " -fno-exceptions -fno-rtti")
  endif()
  # The heap test exists only once tests/ is added (later): resolved at generate time.
  string(REPLACE ";" "|" uplink_size_emulator "${CMAKE_CROSSCOMPILING_EMULATOR}")
  set(uplink_size_heap_test "$<$<TARGET_EXISTS:uplink_tls_tests>:$<TARGET_FILE:uplink_tls_tests>>")
  if(UPLINK_SANITIZE)
    set(uplink_size_heap_test "")  # sanitizers own malloc: no heap figures in such a build
  endif()
  add_custom_target(size_report
    COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}" "-DWORK_DIR=${CMAKE_BINARY_DIR}/size-Os"
            "-DHEAP_TEST=${uplink_size_heap_test}" "-DEMULATOR=${uplink_size_emulator}"
            "-DREADME=${PROJECT_SOURCE_DIR}/README.md"
            "-DGENERATOR=${CMAKE_GENERATOR}" "-DTOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE}"
            "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}" "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
            "-DNO_EXCEPTIONS=${UPLINK_NO_EXCEPTIONS}"
            "-DSIZE=${CMAKE_SIZE}" "-DNM=${CMAKE_NM}" "-DOUTPUT=${CMAKE_BINARY_DIR}/size_report.txt"
            "-DTITLE=${uplink_size_title}"
            -P "${CMAKE_CURRENT_LIST_FILE}"
    COMMAND "${CMAKE_COMMAND}" -E cat "${CMAKE_BINARY_DIR}/size_report.txt"
    BYPRODUCTS "${CMAKE_BINARY_DIR}/size_report.txt" "${CMAKE_BINARY_DIR}/size_report.md"
    COMMENT "Sizes of the SDK at -Os (sub-builds in ${CMAKE_BINARY_DIR}/size-Os)"
    USES_TERMINAL
    VERBATIM)
  if(NOT UPLINK_SANITIZE)
    function(uplink_size_report_heap_dependency)
      if(TARGET uplink_tls_tests)
        add_dependencies(size_report uplink_tls_tests)
      endif()
    endfunction()
    cmake_language(DEFER DIRECTORY "${PROJECT_SOURCE_DIR}" CALL uplink_size_report_heap_dependency)
  endif()
endif()
