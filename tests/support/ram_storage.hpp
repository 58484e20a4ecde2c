// SPDX-License-Identifier: Apache-2.0
// A spool storage image in RAM that outlives the spools using it (the
// "disk"), with a copy and a put-back to model a crash that loses the writes
// made since the copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <vector>

#include "uplink/core/spool.hpp"

namespace uplink::test {

class RamStorage final : public SpoolStorage {
 public:
  explicit RamStorage(std::size_t size) : bytes_(size, 0) {}
  std::size_t size() const override { return bytes_.size(); }
  std::error_code read(std::size_t offset, ByteSpan out) override {
    std::memcpy(out.data, bytes_.data() + offset, out.size);
    return {};
  }
  std::error_code write(std::size_t offset, ConstByteSpan data) override {
    if (fail_writes) return std::make_error_code(std::errc::io_error);
    if (data.size != 0) std::memcpy(bytes_.data() + offset, data.data, data.size);
    return {};
  }
  std::error_code sync() override { return {}; }

  /// A copy of the image, and putting one back: a crash that loses the
  /// writes made since the copy (appends an interval or none policy had not
  /// synced).
  std::vector<std::uint8_t> image() const { return bytes_; }
  void crash_back_to(const std::vector<std::uint8_t>& image) { bytes_ = image; }

  /// Every write fails with EIO while set (a worn or full card).
  bool fail_writes = false;

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace uplink::test
