# SPDX-License-Identifier: Apache-2.0
# The pure core's allow-list: a file of uplink_core may include the C++
# standard library and the core's own headers, nothing else (no Asio, no
# mbedTLS, no OS header, no shell or port header of uplink's). Run with
# -DFILES=<list> (cmake -P); fails naming every include outside the list.
# tests/CMakeLists.txt checks that it does fail on a forbidden include.
cmake_minimum_required(VERSION 3.25)  # if(IN_LIST) and today's policies in script mode
set(allowed_directories "uplink/core/" "uplink/codec/")
set(allowed_files
  "uplink/config_defaults.hpp"  # capacities, with the user's override header
  "uplink/error.hpp"
  "uplink/listener.hpp"
  "uplink/options.hpp"
  "uplink_config.hpp"           # the optional override config_defaults.hpp looks for
  "big_endian.hpp"              # the codec's private cursors (sdk/src/codec)
  "mqtt_fault.hpp")             # the MQTT codec's internal error values (sdk/src/codec)
set(violations "")
foreach(file IN LISTS FILES)
  if(file STREQUAL "")
    continue()
  endif()
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS lines)
    if(line MATCHES "#[ \t]*include[ \t]*<([^>]+)>")
      set(header "${CMAKE_MATCH_1}")
      # Standard C++ headers have no extension and no directory; the C
      # compatibility headers are spelled <cstdint>, <cstring>, ...
      if(header MATCHES "[./]")
        list(APPEND violations "${file}: <${header}>")
      endif()
    elseif(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
      set(header "${CMAKE_MATCH_1}")
      set(ok FALSE)
      foreach(directory IN LISTS allowed_directories)
        string(FIND "${header}" "${directory}" at)
        if(at EQUAL 0 AND NOT header MATCHES "\\.\\.")
          set(ok TRUE)
        endif()
      endforeach()
      if(header IN_LIST allowed_files)
        set(ok TRUE)
      endif()
      if(NOT ok)
        list(APPEND violations "${file}: \"${header}\"")
      endif()
    endif()
  endforeach()
endforeach()
if(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "uplink_core may include only the C++ standard library and uplink core headers:\n  ${text}")
endif()
