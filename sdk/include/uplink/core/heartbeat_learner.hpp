// SPDX-License-Identifier: Apache-2.0
// Adaptive heartbeat: learns how long the path (a NAT, a firewall) lets a
// connection stay idle, and answers the heartbeat interval to use next.
// Pure: no time, no I/O; the link tells it what happened to each idle period.
//
// The search, over idle intervals in [min_ms, max_ms]:
//  - growing: start from start_ms (a safe guess); each idle period that
//    survives (its PING got a PONG) lengthens the next trial by growth_percent;
//  - after the first idle period that killed the link (a trial of length X
//    whose PING went unanswered), the path's timeout T is bracketed: the
//    longest interval that survived (L) < T <= X. The next trials bisect
//    [L, X] while X > L * (1 + precision) and fewer than max_losses links
//    were lost in this search;
//  - settled: the interval is L * (100 - margin_percent) %, and stays there;
//    after reprobe_after survived idle periods at it, one trial of the
//    shortest interval known to fail checks whether the path grew longer.
// A settled interval that kills the link means the path shortened: the
// search starts again below it (from start_ms, or its half, bisecting).
//
// Trials (an interval longer than the one confirmed) are only handed out
// when the link says none of its messages is in flight (trial_allowed), so a
// failed trial costs one reconnect and no message: whatever is queued waits
// in the store and goes after the reconnect, as after any link loss.
//
// A start that kills the link is halved until an interval survives (never
// settling on an interval that did not), then the search goes on as above.
//
// With growth 150 %, precision 13 %, margin 10 % and at most 3 losses, the
// search settles at 78..90 % of the path's timeout within 3 losses, when
// the start is below the timeout or at most about 2.5 times it
// (docs/ARCHITECTURE.md, "Adaptive heartbeat").
#pragma once

#include <cstdint>

namespace uplink {

/// How a HeartbeatLearner searches. Plain data, checked by valid().
struct HeartbeatLearnerPolicy {
  std::uint32_t min_ms = 10000;    ///< Shortest interval ever used. > 0.
  std::uint32_t max_ms = 600000;   ///< Longest interval ever used. >= start_ms.
  std::uint32_t start_ms = 30000;  ///< The first interval (after construction or a network change); >= min_ms.
  std::uint32_t growth_percent = 150;  ///< Each survived trial multiplies the next by this / 100. > 100.
  std::uint32_t margin_percent = 10;   ///< Settle this far below the longest interval that survived. < 100.
  /// Bisecting stops once the shortest failed interval is within this
  /// percentage above the longest survived one. > 0.
  std::uint32_t precision_percent = 13;
  /// Links lost by failed trials in one search after which the learner
  /// settles with what it knows. >= 1.
  std::uint32_t max_losses = 3;
  /// Survived idle periods at the settled interval after which one trial
  /// checks whether the path grew longer; 0 = never.
  std::uint32_t reprobe_after = 32;

  /// True when every field is within its documented range.
  [[nodiscard]] bool valid() const;
};

/// What a learner knows about one network, to keep across restarts
/// (HeartbeatLearner::memory() / restore()).
struct HeartbeatMemory {
  std::uint32_t survived_ms = 0;  ///< Longest interval known to survive; 0 = none.
  std::uint32_t failed_ms = 0;    ///< Shortest interval known to fail; 0 = none.
  bool settled = false;           ///< The search ended: survived_ms is trusted.
};

/// Where a learner is in its search.
enum class HeartbeatPhase : std::uint8_t {
  growing,    ///< No failed interval known: trials lengthen step by step.
  bisecting,  ///< The path's timeout is bracketed: trials halve the bracket.
  settled,    ///< The interval is fixed below the longest survivor.
};

/// Learns the heartbeat interval a path allows. See the file comment for the
/// search. The link asks interval() before each idle period, and reports
/// on_ping_sent(), then on_idle_survived() or on_idle_failed().
class HeartbeatLearner {
 public:
  /// Starts a search with `policy` (checked by the caller with valid()).
  explicit HeartbeatLearner(const HeartbeatLearnerPolicy& policy = HeartbeatLearnerPolicy{});

  /// Starts a new search with `policy`, forgetting everything learned.
  void reset(const HeartbeatLearnerPolicy& policy);
  /// Narrows the ceiling for the current connection (the server may clamp
  /// the heartbeat in WELCOME): intervals stay <= min(policy max, `max_ms`),
  /// and never below the policy's min_ms. What was learned is kept.
  void set_ceiling(std::uint32_t max_ms);

  /// The interval for the next idle period. `trial_allowed` is false while
  /// the link has messages in flight: the confirmed interval is returned then.
  [[nodiscard]] std::uint32_t interval(bool trial_allowed) const;
  /// The longest interval believed safe now (what interval(false) returns).
  [[nodiscard]] std::uint32_t confirmed() const;
  /// True when interval(true) would hand out a trial (longer than confirmed()).
  [[nodiscard]] bool trial_pending() const { return trial_interval() > confirmed(); }

  /// A heartbeat PING went out after an idle period of `interval_ms`.
  void on_ping_sent(std::uint32_t interval_ms);
  /// The PING of on_ping_sent() was answered: the idle period survived.
  void on_idle_survived();
  /// The link died while the PING of on_ping_sent() was unanswered: the
  /// idle period killed it. Returns true when that was a trial (the price
  /// of learning), false when the confirmed interval failed (the path got
  /// shorter: the search restarts below it).
  bool on_idle_failed();
  /// The connection ended for any other reason: an unanswered PING says
  /// nothing about the idle period (the server went away, the device stops).
  void on_connection_ended() { outstanding_ms_ = 0; }

  /// The network under the device changed: start a new search, or resume
  /// from `known` when the port recognised the network (a saved memory()).
  void on_network_changed(const HeartbeatMemory* known = nullptr);
  /// What was learned so far, to keep per network across restarts.
  [[nodiscard]] HeartbeatMemory memory() const;
  /// Resumes from a saved memory() (clamped to the policy's bounds).
  void restore(const HeartbeatMemory& known);

  /// The phase of the search.
  [[nodiscard]] HeartbeatPhase phase() const { return phase_; }
  /// Links lost by failed idle periods in the current search.
  [[nodiscard]] std::uint32_t losses() const { return losses_; }
  /// The policy in effect.
  [[nodiscard]] const HeartbeatLearnerPolicy& policy() const { return policy_; }

 private:
  [[nodiscard]] std::uint32_t ceiling() const;
  [[nodiscard]] std::uint32_t clamp(std::uint64_t ms) const;
  [[nodiscard]] std::uint32_t trial_interval() const;
  void update_phase();

  HeartbeatLearnerPolicy policy_;
  std::uint32_t ceiling_ms_ = 0xFFFFFFFFu;  // from set_ceiling()
  std::uint32_t survived_ms_ = 0;  // longest interval that survived; 0 = none yet
  std::uint32_t failed_ms_ = 0;    // shortest interval that failed; 0 = none
  std::uint32_t settled_ms_ = 0;   // the settled interval (phase settled)
  std::uint32_t outstanding_ms_ = 0;  // interval of the PING awaiting its PONG; 0 = none
  std::uint32_t settled_runs_ = 0;    // survived idle periods since settling
  std::uint32_t losses_ = 0;
  HeartbeatPhase phase_ = HeartbeatPhase::growing;
};

}  // namespace uplink
