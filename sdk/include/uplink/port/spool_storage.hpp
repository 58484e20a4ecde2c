// SPDX-License-Identifier: Apache-2.0
// Port contract: durable storage for the spool (uplink/core/spool.hpp), so
// that queued messages survive a process crash or a power cut.
//
// The interface itself, uplink::SpoolStorage, is declared in
// uplink/core/spool.hpp next to the Spool that uses it: the pure core may
// not include port headers (sdk/cmake/check_core_includes.cmake), the same
// arrangement as RandomSource (core) and port/random.hpp. Its contract, in
// short (the full text is on the class):
//
//   size()                fixed byte count; [0, size()) readable and writable
//   read(offset, out)     all of `out`, or an error
//   write(offset, data)   all of `data`, or an error; seen by later reads and
//                         by the next process after a crash, but durable only
//                         after sync(): a power cut may tear an unsynced write
//                         at any byte (each byte old or new) and keep unsynced
//                         writes in any order; one-byte writes are atomic
//   sync()                returns once every earlier write is durable
//   intact_size()         optional (default size()): the bytes that still
//                         hold what was written when the storage knows it
//                         lost its end (a truncated file), so that the
//                         spool reports the loss
//
// No allocation. The Linux port implements it with a pre-sized file:
// uplink::port::FileSpoolStorage in uplink/port/linux/file_spool_storage.hpp.
// Another platform (raw flash partition, EEPROM, a filesystem without
// fdatasync) implements the four calls and keeps the promises above; the
// spool does the rest (torn records, header slots, recovery).
#pragma once

#include "uplink/core/spool.hpp"

namespace uplink::port {

using uplink::SpoolStorage;

}  // namespace uplink::port
