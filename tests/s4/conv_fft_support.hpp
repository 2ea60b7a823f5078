// The FFT error model against an exact DFT (spec/s4_conv.md [S4CONV-ASSUME-FFTW],
// [S4CONV-FFT-BOUND]): shared by the fast test (lengths up to 4096) and the slow one (to 2^15).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <vector>

#include "cpu/fft.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/dft.hpp"
#include "touchstone/bounds/fft_bound.hpp"

namespace touchstone::s4::conv_testing {

// Inputs are float32 values (so the float and double transforms see the same numbers).
// kind 0: uniform parts in [-1, 1); kind 1: x_j = w^{-j k0} rounded, which makes every term of
// output k0 equal to about 1 (aligned), so y_k0 ~ n, the worst case for relative error.
inline std::vector<std::complex<double>> fft_inputs(std::int64_t n, int kind, std::uint64_t seed) {
  std::vector<std::complex<double>> x(static_cast<std::size_t>(n));
  PhiloxStream rng(seed, "fft_inputs");
  const std::int64_t k0 = static_cast<std::int64_t>(rng.next_below(static_cast<std::uint64_t>(n)));
  for (std::int64_t j = 0; j < n; ++j) {
    if (kind == 0) {
      x[j] = {static_cast<float>(rng.next_uniform(-1, 1)), static_cast<float>(rng.next_uniform(-1, 1))};
    } else {
      const long double a = 2.0L * 3.14159265358979323846264338327950288L *
                            static_cast<long double>((j * k0) % n) / static_cast<long double>(n);
      x[j] = {static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a))};
    }
  }
  return x;
}

struct FftRatio {
  double max_ratio = 0;  // max over outputs of error / bound
  bool within = true;
  double norm_ratio = 0;  // ||error||_2 / the normwise bound ([S4CONV-FFT-BOUND-NORM])
};

// Runs the FFT of `x` in T (float or double) and judges every output against `exact` with the
// model's bound.
template <class T>
FftRatio judge_fft(const std::vector<std::complex<double>>& x,
                   const reference::ComplexVector<mp_real>& exact, fft::Direction dir) {
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  std::vector<std::complex<T>> in(x.size()), out(x.size());
  std::vector<CTracked> tracked;
  for (std::size_t j = 0; j < x.size(); ++j) {
    in[j] = std::complex<T>(static_cast<T>(x[j].real()), static_cast<T>(x[j].imag()));
    tracked.push_back(CTracked::exact(x[j].real(), x[j].imag()));
  }
  fft::dft(in.data(), out.data(), n, dir);
  const Rounding r = Rounding::of(format_info(sizeof(T) == 4 ? Format::float32 : Format::float64));
  const CTracked b = fft_bound::dft_output(tracked, r);
  double norm2 = 0;
  for (std::size_t j = 0; j < x.size(); ++j) norm2 += std::norm(x[j]);
  const double rms = fft_bound::dft_error_rms(std::sqrt(norm2 * (1 + 0x1p-40)), 0, n, r);
  FftRatio result;
  mp_real sq = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    const mp_real dr = mp_real(static_cast<double>(out[k].real())) - exact.re[k];
    const mp_real di = mp_real(static_cast<double>(out[k].imag())) - exact.im[k];
    sq += dr * dr + di * di;
    const double err = to_double(sqrt(dr * dr + di * di)) * (1 + 0x1p-50);
    if (!(err <= b.E)) result.within = false;
    result.max_ratio = std::max(result.max_ratio, err / b.E);
  }
  const double norm_err = to_double(sqrt(sq)) * (1 + 0x1p-50);
  const double norm_bound = std::sqrt(static_cast<double>(n)) * rms;
  if (!(norm_err <= norm_bound)) result.within = false;
  result.norm_ratio = norm_err / norm_bound;
  return result;
}

// For each length: random and aligned inputs, forward and inverse, float and double; asserts
// error <= bound everywhere and prints the max ratio per (length, precision).
inline void check_fft_lengths(const std::vector<std::int64_t>& lengths, double min_pow2_ratio) {
  WorkingPrecision wp(160);
  std::printf("%8s %6s %12s %12s %12s %12s\n", "n", "k(n)", "ratio f32", "ratio f64", "norm f32", "norm f64");
  for (const std::int64_t n : lengths) {
    double worst32 = 0, worst64 = 0, norm32 = 0, norm64 = 0;
    for (int kind = 0; kind < 2; ++kind) {
      const auto x = fft_inputs(n, kind, static_cast<std::uint64_t>(n) * 7 + kind);
      reference::ComplexVector<mp_real> xv(x.size());
      for (std::size_t j = 0; j < x.size(); ++j) {
        xv.re[j] = x[j].real();
        xv.im[j] = x[j].imag();
      }
      for (const bool inverse : {false, true}) {
        const auto exact = reference::dft_exact(xv, inverse);
        const auto dir = inverse ? fft::Direction::inverse : fft::Direction::forward;
        const FftRatio f = judge_fft<float>(x, exact, dir);
        const FftRatio d = judge_fft<double>(x, exact, dir);
        EXPECT_TRUE(f.within) << "float32 FFT of length " << n << " kind " << kind << " inverse " << inverse
                              << " exceeds [S4CONV-FFT-BOUND] (ratio " << f.max_ratio << ")";
        EXPECT_TRUE(d.within) << "float64 FFT of length " << n << " kind " << kind << " inverse " << inverse
                              << " exceeds [S4CONV-FFT-BOUND] (ratio " << d.max_ratio << ")";
        worst32 = std::max(worst32, f.max_ratio);
        worst64 = std::max(worst64, d.max_ratio);
        norm32 = std::max(norm32, f.norm_ratio);
        norm64 = std::max(norm64, d.norm_ratio);
      }
    }
    std::printf("%8lld %6lld %12.3e %12.3e %12.3e %12.3e\n", static_cast<long long>(n),
                static_cast<long long>(fft_bound::roundings(n)), worst32, worst64, norm32, norm64);
    // Vacuity guard on the lengths the convolution uses (powers of two >= 4): the model must stay
    // within a factor 1000 of what FFTW really does there.
    if (n >= 4 && (n & (n - 1)) == 0) {
      EXPECT_GT(worst32, min_pow2_ratio) << "length " << n;
      EXPECT_GT(norm32, min_pow2_ratio) << "length " << n;
    }
  }
}

}  // namespace touchstone::s4::conv_testing
