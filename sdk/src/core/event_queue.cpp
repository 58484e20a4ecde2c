// SPDX-License-Identifier: Apache-2.0
// The application's events, recorded for delivery outside the shell's
// lock. See event_queue.hpp.
#include "uplink/core/event_queue.hpp"

#include <cstdio>
#include <cstring>

namespace uplink {

EventQueue::Event* EventQueue::newest() { return size_ == 0 ? nullptr : &slots_[(head_ + size_ - 1) % kSlots]; }

void EventQueue::push(const Event& event) {
  if (size_ == kSlots) {
    ++overflowed_;
    return;
  }
  slots_[(head_ + size_) % kSlots] = event;
  ++size_;
}

void EventQueue::on_acked(std::uint64_t id) {
  if (acked_size_ == kStoreMessages) {
    ++overflowed_;
    return;
  }
  acked_[(acked_head_ + acked_size_) % kStoreMessages] = id;
  ++acked_size_;
  // One marker per run of acknowledgements that nothing else interrupted.
  if (Event* last = newest()) {
    if (Acked* run = std::get_if<Acked>(last)) {
      ++run->count;
      return;
    }
  }
  push(Acked{1});
}

void EventQueue::on_dropped(std::uint64_t id, std::error_code reason) {
  if (Event* last = newest()) {
    if (Dropped* run = std::get_if<Dropped>(last)) {
      if (run->reason == reason && run->first + run->count == id) {
        ++run->count;
        return;
      }
    }
  }
  push(Dropped{id, 1, reason});
}

void EventQueue::on_log(LogLevel level, const char* text) {
  for (std::size_t slot = 0; slot < kLogSlots && size_ < kSlots; ++slot) {
    if (log_used_[slot]) continue;
    if (logs_lost_ != 0) {
      std::snprintf(logs_[slot], kLogLineSize, "(%u log lines lost: the application is slower than the log) %s",
                    static_cast<unsigned>(logs_lost_), text);
      logs_lost_ = 0;
    } else {
      std::snprintf(logs_[slot], kLogLineSize, "%s", text);
    }
    log_used_[slot] = true;
    push(Log{level, static_cast<std::uint8_t>(slot)});
    return;
  }
  ++logs_lost_;
}

bool EventQueue::pop(Event& out, char* log_text) {
  if (size_ == 0) return false;
  out = slots_[head_];
  head_ = (head_ + 1) % kSlots;
  --size_;
  if (const Log* log = std::get_if<Log>(&out)) {
    std::memcpy(log_text, logs_[log->slot], kLogLineSize);
    log_used_[log->slot] = false;
  }
  return true;
}

std::size_t EventQueue::take_acked(std::uint64_t* out, std::size_t max) {
  std::size_t n = 0;
  while (n < max && acked_size_ > 0) {
    out[n++] = acked_[acked_head_];
    acked_head_ = (acked_head_ + 1) % kStoreMessages;
    --acked_size_;
  }
  return n;
}

}  // namespace uplink
