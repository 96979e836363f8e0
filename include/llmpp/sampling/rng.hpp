// A small seedable random number generator whose output is the same on every platform.
// std::mt19937 is portable but the std:: distributions are implementation-defined, so a
// seed would not reproduce a generation across standard libraries; we draw our own floats.
//
// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021),
// its 256-bit state filled from the 64-bit seed by splitmix64 as the authors recommend.
#pragma once

#include <array>
#include <cstdint>

namespace llmpp::sampling {

// splitmix64 (Steele, Lea & Flood 2014): one 64-bit output per call, used only for seeding.
inline uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }

  void seed_with(uint64_t seed) {
    uint64_t splitmix_state = seed;
    // splitmix64 never yields four zero words in a row, so the state is never all-zero
    // (the one state xoshiro cannot leave).
    for (uint64_t& word : state_) word = splitmix64_next(splitmix_state);
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) on a grid of 2^-24: the top 24 bits fill a float's mantissa exactly,
  // so the result is never rounded up to 1.
  float uniform_float() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }

  // Uniform in [0, 1) on a grid of 2^-53.
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<uint64_t, 4> state_{};
};

}  // namespace llmpp::sampling
