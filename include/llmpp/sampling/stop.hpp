// Stop strings over streamed text. Generated text arrives one decoded token piece at a time
// and a stop string may span several pieces, so the matcher holds back any tail that could
// still grow into a stop string and releases text only once it can no longer be part of one.
// The stop string itself is never emitted.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmpp/core/error.hpp"

namespace llmpp::sampling {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings) : stop_strings_(std::move(stop_strings)) {
    size_t longest = 0;
    for (size_t i = 0; i < stop_strings_.size(); ++i) {
      if (stop_strings_[i].empty())
        throw InvalidArgument("StopStringMatcher: stop string " + std::to_string(i) + " is empty");
      longest = std::max(longest, stop_strings_[i].size());
    }
    pending_.reserve(2 * longest + 64);
  }

  // Appends to `out` the text that is now safe to show. Returns true when a stop string has
  // completed: `out` then holds everything before it, and the rest of the piece is dropped.
  // After a stop, further pieces are ignored until reset().
  bool feed(std::string_view piece, std::string& out) {
    if (stopped_) return true;
    pending_.append(piece.data(), piece.size());

    // The earliest complete stop string wins; at equal positions, the first in the list.
    size_t stop_at = std::string::npos;
    for (size_t i = 0; i < stop_strings_.size(); ++i) {
      const size_t at = pending_.find(stop_strings_[i]);
      if (at < stop_at) {
        stop_at = at;
        matched_ = static_cast<int>(i);
      }
    }
    if (stop_at != std::string::npos) {
      out.append(pending_, 0, stop_at);
      pending_.clear();
      stopped_ = true;
      return true;
    }

    // pending_ holds no complete stop string, so only its tail can still become one: keep the
    // longest suffix that is a proper prefix of a stop string. Any earlier start would need a
    // longer such suffix, so everything before the kept tail is final.
    const size_t n_held = longest_suffix_that_starts_a_stop();
    out.append(pending_, 0, pending_.size() - n_held);
    pending_.erase(0, pending_.size() - n_held);
    return false;
  }

  // End of generation without a stop: the held-back tail was ordinary text after all.
  void flush(std::string& out) {
    out += pending_;
    pending_.clear();
  }

  bool stopped() const { return stopped_; }
  // Index in the constructor's list of the stop string that fired, or -1.
  int matched_index() const { return stopped_ ? matched_ : -1; }
  // Bytes currently held back.
  size_t n_pending() const { return pending_.size(); }

  void reset() {
    pending_.clear();
    stopped_ = false;
    matched_ = -1;
  }

 private:
  size_t longest_suffix_that_starts_a_stop() const {
    size_t best = 0;
    for (const std::string& stop : stop_strings_) {
      for (size_t length = std::min(stop.size() - 1, pending_.size()); length > best; --length) {
        if (pending_.compare(pending_.size() - length, length, stop, 0, length) == 0) {
          best = length;
          break;
        }
      }
    }
    return best;
  }

  std::vector<std::string> stop_strings_;
  std::string pending_;  // text received but not yet released
  bool stopped_ = false;
  int matched_ = -1;
};

}  // namespace llmpp::sampling
