# size_report: what the SDK's libraries cost in flash and RAM, per object.
#
# Use, from the top-level CMakeLists.txt after add_subdirectory(ports):
#
#   include(cmake/uplinkSizeReport.cmake)
#
#   cmake --build --preset release --target size_report
#
# The target builds the libraries named in UPLINK_SIZE_REPORT_TARGETS
# (default: uplink_core uplink_client uplink_port_linux; set the variable
# before the include to change it), runs `size -t` on their static archives,
# prints the result and writes it to <build dir>/size_report.txt
# (build/<preset>/size_report.txt with the presets).
#
# Columns are Berkeley `size` ones: text = code + read-only data (.rodata,
# .eh_frame...), data = initialised RAM, bss = zeroed RAM. Archive totals are
# not a program's size: the linker takes only the objects a program needs
# (whole ones, unless sections are garbage-collected) and one copy of the
# inline and template code several objects carry; the program adds its own
# code and the templates it instantiates from the headers.
#
# The target exists only when a `size` for the current compiler is found:
# CMAKE_SIZE if set (e.g. -DCMAKE_SIZE=/opt/x/bin/arm-none-eabi-size), else
# the `size` next to the toolchain's `nm` (aarch64-linux-gnu-nm ->
# aarch64-linux-gnu-size, llvm-nm-14 -> llvm-size-14), else <triple>-size,
# else plain `size` for a native build. A cross build never falls back to the
# host's `size`, which may not read the target's objects.
#
# This file is also the script that writes the report (cmake -P, below).

if(CMAKE_SCRIPT_MODE_FILE)
  # ---- script mode: cmake -DSIZE=... -DOUTPUT=... -DLIBRARIES=a|b -DTITLE=... -P this file
  string(REPLACE "|" ";" libraries "${LIBRARIES}")
  get_filename_component(work_dir "${OUTPUT}" DIRECTORY)
  set(relative_libraries "")
  foreach(library IN LISTS libraries)
    file(RELATIVE_PATH relative "${work_dir}" "${library}")
    list(APPEND relative_libraries "${relative}")
  endforeach()

  execute_process(COMMAND "${SIZE}" -t ${relative_libraries}
                  WORKING_DIRECTORY "${work_dir}"
                  OUTPUT_VARIABLE per_object ERROR_VARIABLE size_error RESULT_VARIABLE size_result)
  if(NOT size_result EQUAL 0)
    message(FATAL_ERROR "${SIZE} -t failed (${size_result}): ${size_error}")
  endif()

  # One total per library: the (TOTALS) line of `size -t` on that archive alone.
  set(per_library "   text\t   data\t    bss\t    dec\tlibrary\n")
  foreach(library IN LISTS relative_libraries)
    execute_process(COMMAND "${SIZE}" -t "${library}" WORKING_DIRECTORY "${work_dir}"
                    OUTPUT_VARIABLE one RESULT_VARIABLE one_result)
    if(one_result EQUAL 0 AND one MATCHES "([0-9]+)[ \t]+([0-9]+)[ \t]+([0-9]+)[ \t]+([0-9]+)[ \t]+[0-9a-fA-F]+[ \t]+\\(TOTALS\\)")
      foreach(column 1 2 3 4)
        string(LENGTH "${CMAKE_MATCH_${column}}" width)
        math(EXPR pad "7 - ${width}")
        set(cell "${CMAKE_MATCH_${column}}")
        if(pad GREATER 0)
          string(REPEAT " " ${pad} spaces)
          set(cell "${spaces}${cell}")
        endif()
        string(APPEND per_library "${cell}\t")
      endforeach()
      string(APPEND per_library "${library}\n")
    endif()
  endforeach()

  set(report "uplink size report: ${TITLE}\n")
  string(APPEND report "Tool: ${SIZE} -t (Berkeley: text = code + read-only data, data = initialised RAM, bss = zeroed RAM)\n\n")
  string(APPEND report "Per object:\n${per_object}\n")
  string(APPEND report "Per library:\n${per_library}\n")
  string(APPEND report "Archive totals count every object whole, with its copy of the inline and template code it\n")
  string(APPEND report "shares with others. A program links only the objects it uses (whole, unless built with\n")
  string(APPEND report "-ffunction-sections -fdata-sections and linked with -Wl,--gc-sections), one copy of the\n")
  string(APPEND report "shared code, plus its own code and the templates it instantiates from the headers.\n")
  file(WRITE "${OUTPUT}" "${report}")
  return()
endif()

# ---- configure mode: declare the target -------------------------------------
if(NOT DEFINED UPLINK_SIZE_REPORT_TARGETS)
  set(UPLINK_SIZE_REPORT_TARGETS uplink_core uplink_client uplink_port_linux)
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

if(NOT CMAKE_SIZE)
  message(STATUS "size_report: no size tool for this compiler (set CMAKE_SIZE): target not created")
else()
  set(uplink_size_libraries "")
  foreach(uplink_target IN LISTS UPLINK_SIZE_REPORT_TARGETS)
    list(APPEND uplink_size_libraries "$<TARGET_FILE:${uplink_target}>")
  endforeach()
  list(JOIN uplink_size_libraries "|" uplink_size_libraries)
  get_filename_component(uplink_build_dir_name "${CMAKE_BINARY_DIR}" NAME)
  set(uplink_size_title "${uplink_build_dir_name}, ${CMAKE_BUILD_TYPE} build, ${CMAKE_CXX_COMPILER_ID} "
                        "${CMAKE_CXX_COMPILER_VERSION}, ${CMAKE_SYSTEM_NAME} ${CMAKE_SYSTEM_PROCESSOR}")
  string(JOIN "" uplink_size_title ${uplink_size_title})
  if(UPLINK_NO_EXCEPTIONS)
    string(APPEND uplink_size_title ", -fno-exceptions -fno-rtti")
  endif()
  add_custom_target(size_report
    COMMAND "${CMAKE_COMMAND}" "-DSIZE=${CMAKE_SIZE}" "-DOUTPUT=${CMAKE_BINARY_DIR}/size_report.txt"
            "-DLIBRARIES=${uplink_size_libraries}" "-DTITLE=${uplink_size_title}"
            -P "${CMAKE_CURRENT_LIST_FILE}"
    COMMAND "${CMAKE_COMMAND}" -E cat "${CMAKE_BINARY_DIR}/size_report.txt"
    BYPRODUCTS "${CMAKE_BINARY_DIR}/size_report.txt"
    COMMENT "Sizes of ${UPLINK_SIZE_REPORT_TARGETS} (${CMAKE_SIZE})"
    USES_TERMINAL
    VERBATIM)
  add_dependencies(size_report ${UPLINK_SIZE_REPORT_TARGETS})
endif()
