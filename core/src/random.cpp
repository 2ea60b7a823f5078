#include "touchstone/core/random.hpp"

#include <Random123/philox.h>

#include <cmath>
#include <numbers>

namespace touchstone {

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

PhiloxStream::PhiloxStream(std::uint64_t seed, std::string_view name) {
  key_[0] = static_cast<std::uint32_t>(seed);
  key_[1] = static_cast<std::uint32_t>(seed >> 32);
  const std::uint64_t n = fnv1a64(name);
  name_[0] = static_cast<std::uint32_t>(n);
  name_[1] = static_cast<std::uint32_t>(n >> 32);
}

std::array<std::uint32_t, 4> philox4x32_10(const std::array<std::uint32_t, 4>& counter,
                                           const std::array<std::uint32_t, 2>& key) {
  r123::Philox4x32_R<10> philox;
  const r123::Philox4x32::ctr_type c = {{counter[0], counter[1], counter[2], counter[3]}};
  const r123::Philox4x32::key_type k = {{key[0], key[1]}};
  const r123::Philox4x32::ctr_type r = philox(c, k);
  return {r[0], r[1], r[2], r[3]};
}

std::array<std::uint32_t, 4> PhiloxStream::block(std::uint64_t i) const {
  return philox4x32_10({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32),
                        name_[0], name_[1]},
                       {key_[0], key_[1]});
}

namespace {
double uniform_from(std::uint32_t lo, std::uint32_t hi) {
  const std::uint64_t x = ((std::uint64_t{hi} << 32) | lo) >> 12;
  return std::ldexp(static_cast<double>(2 * x + 1), -53);
}
}  // namespace

double PhiloxStream::uniform(std::uint64_t i) const {
  const auto w = block(i);
  return uniform_from(w[0], w[1]);
}

double PhiloxStream::normal(std::uint64_t i) const {
  const auto w = block(i);
  const double u1 = uniform_from(w[0], w[1]);
  const double u2 = uniform_from(w[2], w[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t PhiloxStream::next_below(std::uint64_t n) {
  const double u = next_uniform();
  const auto k = static_cast<std::uint64_t>(u * static_cast<double>(n));
  return k < n ? k : n - 1;
}

double PhiloxStream::next_log_uniform(int emin, int emax, bool signed_) {
  const auto w = block(next_++);
  const int e = emin + static_cast<int>(w[0] % static_cast<std::uint32_t>(emax - emin + 1));
  const double f = uniform_from(w[1], w[2]) - std::ldexp(1.0, -53);  // in [0, 1)
  const double s = (signed_ && (w[3] & 1u)) ? -1.0 : 1.0;
  return s * std::ldexp(1.0 + f, e);
}

}  // namespace touchstone
