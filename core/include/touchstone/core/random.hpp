// Counter-based random streams shared by every backend (spec/core.md [CORE-RNG]).
//
// A stream is Philox4x32-10 (Random123) keyed by the 64-bit seed, with counter words
// (index_lo, index_hi, name_lo, name_hi), where name = FNV-1a-64 of the stream's name. Draw i of
// a stream is a pure function of (seed, name, i): no state, no order dependence, the same on CPU
// and GPU. Uniforms and normals are built from the four 32-bit words by the exact formulas below,
// in double; backends consume the same doubles.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace touchstone {

std::uint64_t fnv1a64(std::string_view text);

// One Philox4x32-10 block (Random123's philox4x32, 10 rounds).
std::array<std::uint32_t, 4> philox4x32_10(const std::array<std::uint32_t, 4>& counter,
                                           const std::array<std::uint32_t, 2>& key);

class PhiloxStream {
 public:
  PhiloxStream(std::uint64_t seed, std::string_view name);

  // The four words of block i.
  std::array<std::uint32_t, 4> block(std::uint64_t i) const;

  // [CORE-RNG-UNIFORM] x = (w1*2^32 + w0) >> 12 (52 bits), u = (2x + 1) * 2^-53: the midpoints
  // of 2^52 equal cells of (0, 1). Never 0 or 1; exact in double.
  double uniform(std::uint64_t i) const;
  // [CORE-RNG-NORMAL] Box-Muller on block i: u1 from (w0, w1), u2 from (w2, w3) by the uniform
  // formula, n = sqrt(-2 log u1) * cos(2 pi u2), evaluated in double with the C library.
  double normal(std::uint64_t i) const;

  // Sequential helpers: draw number next_++.
  double next_uniform() { return uniform(next_++); }
  double next_normal() { return normal(next_++); }
  // Uniform on [lo, hi) as lo + (hi - lo) * u, rounded in double.
  double next_uniform(double lo, double hi) { return lo + (hi - lo) * next_uniform(); }
  // Integer uniform on [0, n) from one block: floor(u * n).
  std::uint64_t next_below(std::uint64_t n);
  // s * 2^e * (1 + f), e uniform in [emin, emax], f uniform in [0,1), s = +-1 with probability
  // 1/2 when signed_: spans many orders of magnitude with no libm call, so it is the same
  // everywhere.
  double next_log_uniform(int emin, int emax, bool signed_ = false);

 private:
  std::uint32_t key_[2];
  std::uint32_t name_[2];
  std::uint64_t next_ = 0;
};

}  // namespace touchstone
