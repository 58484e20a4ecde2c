// SPDX-License-Identifier: Apache-2.0
// MemorySessionStore: the in-memory fake of the reference server's
// SessionStore. Appends are encoded exactly as the file store encodes them
// and only commit() makes them "durable", so a test can "kill" the server
// (drop what was not committed), replay the durable bytes into a new
// registry, tear the last record, or make a commit fail.
#pragma once

#include <cstdint>
#include <system_error>
#include <vector>

#include "session_journal.hpp"
#include "session_registry.hpp"

namespace uplink::test {

class MemorySessionStore final : public server::SessionStore {
 public:
  MemorySessionStore() { server::encode_journal_magic(durable); }

  void append(const server::JournalRecord& record) override { server::encode_journal_record(record, pending); }
  [[nodiscard]] std::error_code commit() override {
    ++commit_calls;
    if (fail_commits) return std::make_error_code(std::errc::io_error);
    durable.insert(durable.end(), pending.begin(), pending.end());
    pending.clear();
    return {};
  }

  /// The committed records, decoded.
  [[nodiscard]] server::JournalScan scan() const {
    return server::scan_journal(ConstByteSpan{durable.data(), durable.size()});
  }
  /// Replays the committed records into `registry`; the first problem, or "".
  [[nodiscard]] std::string replay(server::SessionRegistry& registry) const {
    const server::JournalScan s = scan();
    if (!s.ok()) return s.problem;
    for (const server::JournalRecord& record : s.records) {
      std::string why = registry.apply(record);
      if (!why.empty()) return why;
    }
    return {};
  }

  std::vector<std::uint8_t> durable;  ///< Magic + committed records: what survives a kill.
  std::vector<std::uint8_t> pending;  ///< Appended, not yet committed.
  bool fail_commits = false;
  int commit_calls = 0;
};

}  // namespace uplink::test
