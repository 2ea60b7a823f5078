// The error model of the shared CPU FFT (optimized/cpu/fft.hpp, FFTW 3): spec/s4_conv.md
// [S4CONV-ASSUME-FFTW] and [S4CONV-FFT-BOUND].
//
// A length-n DFT (forward or inverse, unnormalized) of computed inputs x^_j, where the exact
// inputs x_j satisfy |x_j| <= M_j and |x^_j - x_j| <= E_j, returns y^_k with, for every k,
//
//   |y^_k - y_k| <= sum_j E_j + g(n) sum_j (M_j + E_j) + h(n) eta,      |y_k| <= sum_j M_j,
//
//   g(n) = sqrt(2) gamma_{k(n)},  gamma_k = (1 + u)^k - 1,  h(n) = 4 sqrt(2) n k(n),
//
// where k(n) is the number of roundings charged to one input->output path of FFTW's algorithm
// (a path passes one complex twiddle multiplication, itself an error of about sqrt(2) gamma_2,
// and one addition per radix stage). k(n) is an assumption about FFTW, whose codelets are
// generated and whose planner picks among several algorithms; it is stated and argued in
// [S4CONV-ASSUME-FFTW] and tested against an exact DFT in tests/s4/conv_fft_test.cpp:
//
//   k(n) = sum over the prime factors p of n, with multiplicity, of s(p);
//   s(p) = 2 ceil(log2 p) + 4                         for p in {2, 3, 5, 7, 11, 13} (codelets);
//   s(p) = max( p + 6,                                  generic O(p^2) DFT (sequential sums),
//               ceil(sqrt p) (2 k(p - 1) + 8),           Rader (a length p-1 cyclic convolution),
//               ceil(sqrt(4p)) (12 ceil(log2 4p) + 10) ) Bluestein (a convolution of length
//                                                        nb < 4p with 5-smooth nb)   for p > 13.
//
// The square-root factors charge Rader's and Bluestein's convolutions for the modulus of their
// precomputed kernel transforms (about sqrt p each): the per-element worst case, not the typical
// error.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "touchstone/core/tracked.hpp"
#include "touchstone/core/tracked_complex.hpp"

namespace touchstone::fft_bound {

inline std::int64_t ceil_log2(std::int64_t m) {
  std::int64_t b = 0;
  while ((std::int64_t{1} << b) < m) ++b;
  return b;
}

inline std::int64_t ceil_sqrt(std::int64_t m) {
  std::int64_t s = static_cast<std::int64_t>(std::sqrt(static_cast<double>(m)));
  while (s * s < m) ++s;
  while (s > 0 && (s - 1) * (s - 1) >= m) --s;
  return s;
}

std::int64_t roundings(std::int64_t n);

// [S4CONV-ASSUME-FFTW] s(p): roundings charged to one prime factor p of the length.
inline std::int64_t prime_roundings(std::int64_t p) {
  if (p <= 13) return 2 * ceil_log2(p) + 4;
  const std::int64_t generic = p + 6;
  const std::int64_t rader = ceil_sqrt(p) * (2 * roundings(p - 1) + 8);
  const std::int64_t bluestein = ceil_sqrt(4 * p) * (12 * ceil_log2(4 * p) + 10);
  return std::max({generic, rader, bluestein});
}

// [S4CONV-ASSUME-FFTW] k(n) = sum of s(p) over the prime factors of n with multiplicity; k(1) = 0.
inline std::int64_t roundings(std::int64_t n) {
  std::int64_t k = 0;
  for (std::int64_t p = 2; p * p <= n; ++p)
    while (n % p == 0) {
      k += prime_roundings(p);
      n /= p;
    }
  if (n > 1) k += prime_roundings(n);
  return k;
}

// g(n) = sqrt(2) gamma_{k(n)} for unit roundoff u (rounded up by a relative 2^-50).
inline double growth(std::int64_t n, double u) {
  const double k = static_cast<double>(roundings(n));
  return 1.4142135623730951 * std::expm1(k * std::log1p(u)) * (1 + 0x1p-50);
}

// [S4CONV-FFT-BOUND] The bound of every output of a length-n DFT (either direction,
// unnormalized) of inputs with sum_j M_j = sum_M and sum_j E_j = sum_E: M = sum_M bounds the exact
// output's modulus and E its computed value's error. E = +inf where an intermediate may overflow:
// FFTW's intermediates are partial DFTs and codelet temporaries of modulus at most
// 4 (sqrt(n) + 1) sum_j |x^_j| (the factor covers Rader's and Bluestein's kernels).
inline CTracked dft_output(double sum_M, double sum_E, std::int64_t n, const Rounding& r) {
  const double sum_c = sum_M + sum_E;
  if (!(sum_c * 4 * (std::sqrt(static_cast<double>(n)) + 1) * (1 + 0x1p-40) <= r.max_finite))
    return {sum_M, std::numeric_limits<double>::infinity()};
  const double h = 4 * 1.4142135623730951 * static_cast<double>(n) * static_cast<double>(roundings(n));
  return {sum_M, (sum_E + growth(n, r.u) * sum_c + h * r.eta) * (1 + 0x1p-50)};
}

// [S4CONV-FFT-BOUND-NORM] The normwise form: with ||x||_2 <= norm_M and ||x^ - x||_2 <= norm_E,
// ||y^ - y||_2 <= sqrt(n) (norm_E + g(n) (norm_M + norm_E) + h(n) eta); returns the factor in
// parentheses (so the root-mean-square output error). The DFT is sqrt(n) times a unitary map, so
// propagated input errors grow by exactly sqrt(n); each stage of a Cooley-Tukey factorization is
// (up to the sqrt(p) of a radix-p codelet) unitary as well, so a stage's rounding, relative in
// modulus per element, is relative in the 2-norm too, and the per-path count k(n) carries over
// ([S4CONV-ASSUME-FFTW]). +inf where the elementwise form overflows.
inline double dft_error_rms(double norm_M, double norm_E, std::int64_t n, const Rounding& r) {
  const double sqrt_n = std::sqrt(static_cast<double>(n)) * (1 + 0x1p-52);
  // Elementwise, sum_j |x^_j| <= sqrt(n) ||x^||_2: the overflow test of dft_output.
  if (!((norm_M + norm_E) * sqrt_n * 4 * (sqrt_n + 1) * (1 + 0x1p-40) <= r.max_finite))
    return std::numeric_limits<double>::infinity();
  const double h = 4 * 1.4142135623730951 * static_cast<double>(n) * static_cast<double>(roundings(n));
  return (norm_E + growth(n, r.u) * (norm_M + norm_E) + h * r.eta) * (1 + 0x1p-50);
}

// The same from per-input CTracked values.
inline CTracked dft_output(const std::vector<CTracked>& inputs, const Rounding& r) {
  double sum_M = 0, sum_E = 0;
  for (const CTracked& x : inputs) {
    sum_M += x.M;
    sum_E += x.E;
  }
  // A sum of m non-negative doubles is within a relative (m - 1) 2^-53 of the exact sum.
  const double up = 1 + static_cast<double>(inputs.size() + 1) * 0x1p-52;
  return dft_output(sum_M * up, sum_E * up, static_cast<std::int64_t>(inputs.size()), r);
}

}  // namespace touchstone::fft_bound
