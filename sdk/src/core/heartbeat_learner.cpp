// SPDX-License-Identifier: Apache-2.0
// The adaptive heartbeat's search. See heartbeat_learner.hpp for the rules;
// the comments here say why the edges are where they are.
#include "uplink/core/heartbeat_learner.hpp"

namespace uplink {
namespace {
std::uint64_t percent_of(std::uint64_t value, std::uint32_t percent) { return value * percent / 100; }
}  // namespace

bool HeartbeatLearnerPolicy::valid() const {
  return min_ms > 0 && start_ms >= min_ms && max_ms >= start_ms && growth_percent > 100 && margin_percent < 100 &&
         precision_percent > 0 && max_losses >= 1;
}

HeartbeatLearner::HeartbeatLearner(const HeartbeatLearnerPolicy& policy) { reset(policy); }

void HeartbeatLearner::reset(const HeartbeatLearnerPolicy& policy) {
  policy_ = policy;
  ceiling_ms_ = 0xFFFFFFFFu;
  on_network_changed(nullptr);
}

void HeartbeatLearner::set_ceiling(std::uint32_t max_ms) { ceiling_ms_ = max_ms; }

std::uint32_t HeartbeatLearner::ceiling() const {
  std::uint32_t top = policy_.max_ms < ceiling_ms_ ? policy_.max_ms : ceiling_ms_;
  return top < policy_.min_ms ? policy_.min_ms : top;
}

std::uint32_t HeartbeatLearner::clamp(std::uint64_t ms) const {
  if (ms < policy_.min_ms) return policy_.min_ms;
  const std::uint32_t top = ceiling();
  return ms > top ? top : static_cast<std::uint32_t>(ms);
}

std::uint32_t HeartbeatLearner::confirmed() const {
  if (phase_ == HeartbeatPhase::settled) return clamp(settled_ms_);
  if (survived_ms_ != 0) return clamp(survived_ms_);
  // Nothing survived yet: the start is the safe guess, unless it is known
  // to fail (the search restarted below a failed interval): then half of that.
  if (failed_ms_ != 0 && failed_ms_ <= policy_.start_ms) return clamp(failed_ms_ / 2);
  return clamp(policy_.start_ms);
}

std::uint32_t HeartbeatLearner::trial_interval() const {
  switch (phase_) {
    case HeartbeatPhase::growing:
      return survived_ms_ == 0 ? confirmed() : clamp(percent_of(survived_ms_, policy_.growth_percent));
    case HeartbeatPhase::bisecting:
      // Nothing survived yet (the start was too long): the guess below the
      // failure is tried first, as the confirmed interval, not as a trial.
      if (survived_ms_ == 0) return confirmed();
      return clamp((static_cast<std::uint64_t>(confirmed()) + failed_ms_) / 2);
    case HeartbeatPhase::settled:
      // Now and then, the shortest interval known to fail is tried again:
      // the operator may have lengthened the path's timeout.
      if (policy_.reprobe_after != 0 && settled_runs_ >= policy_.reprobe_after && failed_ms_ != 0) {
        return clamp(failed_ms_);
      }
      return confirmed();
  }
  return confirmed();
}

std::uint32_t HeartbeatLearner::interval(bool trial_allowed) const {
  return trial_allowed ? trial_interval() : confirmed();
}

void HeartbeatLearner::on_ping_sent(std::uint32_t interval_ms) { outstanding_ms_ = interval_ms; }

void HeartbeatLearner::on_idle_survived() {
  const std::uint32_t tried = outstanding_ms_;
  outstanding_ms_ = 0;
  if (tried == 0) return;
  if (phase_ == HeartbeatPhase::settled) {
    if (tried <= confirmed()) {
      ++settled_runs_;
      return;
    }
    // A re-probe survived: the path's timeout grew. Search upwards again.
    survived_ms_ = tried;
    failed_ms_ = 0;
    losses_ = 0;
    settled_runs_ = 0;
    phase_ = HeartbeatPhase::growing;
    update_phase();
    return;
  }
  if (tried > survived_ms_) survived_ms_ = tried;
  if (failed_ms_ != 0 && survived_ms_ >= failed_ms_) failed_ms_ = 0;  // the path grew meanwhile
  update_phase();
}

bool HeartbeatLearner::on_idle_failed() {
  const std::uint32_t tried = outstanding_ms_;
  outstanding_ms_ = 0;
  if (tried == 0) return false;
  const bool trial = tried > confirmed();
  if (trial) {
    if (phase_ == HeartbeatPhase::settled) {
      settled_runs_ = 0;  // the re-probe failed: the path did not grow
      return true;
    }
    if (failed_ms_ == 0 || tried < failed_ms_) failed_ms_ = tried;
    ++losses_;
    update_phase();
    return true;
  }
  // The interval believed safe killed the link: the path's timeout got
  // shorter (a settled interval failed: this loss is the first of a new
  // search), or the start was too long (the search goes on below it).
  if (phase_ == HeartbeatPhase::settled) {
    losses_ = 1;
  } else {
    ++losses_;
  }
  failed_ms_ = tried;
  if (survived_ms_ >= tried) survived_ms_ = 0;
  settled_ms_ = 0;
  settled_runs_ = 0;
  phase_ = HeartbeatPhase::bisecting;
  update_phase();
  return false;
}

void HeartbeatLearner::update_phase() {
  if (failed_ms_ == 0) {
    // Growing until a trial fails, or until the ceiling itself survived.
    if (survived_ms_ != 0 && clamp(percent_of(survived_ms_, policy_.growth_percent)) <= survived_ms_) {
      settled_ms_ = clamp(survived_ms_);
      phase_ = HeartbeatPhase::settled;
    } else {
      phase_ = HeartbeatPhase::growing;
    }
    return;
  }
  const std::uint32_t low = confirmed();
  if (survived_ms_ == 0 && low > policy_.min_ms) {
    // Nothing survived yet: never settle on a guess; halve until something does.
    phase_ = HeartbeatPhase::bisecting;
    return;
  }
  const std::uint32_t middle = clamp((static_cast<std::uint64_t>(low) + failed_ms_) / 2);
  const bool bracket_narrow = failed_ms_ <= percent_of(low, 100 + policy_.precision_percent);
  if (bracket_narrow || losses_ >= policy_.max_losses || middle <= low) {
    // The margin keeps the interval off the edge: a path's timeout is
    // counted from its last packet, and the device's timer wakes late now
    // and then.
    settled_ms_ = clamp(percent_of(low, 100 - policy_.margin_percent));
    settled_runs_ = 0;
    phase_ = HeartbeatPhase::settled;
  } else {
    phase_ = HeartbeatPhase::bisecting;
  }
}

void HeartbeatLearner::on_network_changed(const HeartbeatMemory* known) {
  survived_ms_ = 0;
  failed_ms_ = 0;
  settled_ms_ = 0;
  settled_runs_ = 0;
  losses_ = 0;
  outstanding_ms_ = 0;
  phase_ = HeartbeatPhase::growing;
  if (known != nullptr) restore(*known);
}

HeartbeatMemory HeartbeatLearner::memory() const {
  HeartbeatMemory m;
  m.survived_ms = survived_ms_;
  m.failed_ms = failed_ms_;
  m.settled = phase_ == HeartbeatPhase::settled;
  return m;
}

void HeartbeatLearner::restore(const HeartbeatMemory& known) {
  survived_ms_ = known.survived_ms;
  failed_ms_ = known.failed_ms;
  if (failed_ms_ != 0 && survived_ms_ >= failed_ms_) failed_ms_ = 0;  // contradictory: trust the survivor
  settled_runs_ = 0;
  losses_ = 0;
  outstanding_ms_ = 0;
  if (known.settled && survived_ms_ != 0) {
    settled_ms_ = clamp(failed_ms_ == 0 ? survived_ms_ : percent_of(survived_ms_, 100 - policy_.margin_percent));
    phase_ = HeartbeatPhase::settled;
    return;
  }
  phase_ = failed_ms_ == 0 ? HeartbeatPhase::growing : HeartbeatPhase::bisecting;
  update_phase();
}

}  // namespace uplink
