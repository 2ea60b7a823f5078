// The shared FFT (optimized/cpu/fft.hpp) and its error model (fft_bound.hpp) against the exact
// DFT: lengths up to 4096 here, 2^15 in conv_fft_slow_test.cpp.
#include <thread>

#include "../tightness.hpp"
#include "conv_fft_support.hpp"
#include "touchstone/core/errors.hpp"

using namespace touchstone;
using namespace touchstone::s4;

// covers: S4CONV-DFT-DEF
TEST(ExactDft, SplittingEqualsTheDefinition) {
  WorkingPrecision wp(160);
  for (const std::int64_t n : {1, 2, 6, 12, 17, 30, 64, 97}) {
    const auto x = conv_testing::fft_inputs(n, 0, static_cast<std::uint64_t>(n));
    reference::ComplexVector<mp_real> xv(x.size());
    for (std::size_t j = 0; j < x.size(); ++j) {
      xv.re[j] = x[j].real();
      xv.im[j] = x[j].imag();
    }
    for (const bool inverse : {false, true}) {
      const auto a = reference::dft_direct(xv, inverse), b = reference::dft_exact(xv, inverse);
      for (std::int64_t k = 0; k < n; ++k) {
        // Both are within n 2^-150 of the exact sum (|y_k| <= 2n here).
        EXPECT_LT(to_double(abs(a.re[k] - b.re[k]) + abs(a.im[k] - b.im[k])), 0x1p-130) << n;
      }
    }
  }
}

// covers: S4CONV-FFT-API
TEST(Fft, ForwardThenInverseIsNTimesAndPlansAreCached) {
  const std::int64_t n = 48;
  std::vector<std::complex<double>> x(n), y(n), z(n);
  for (std::int64_t j = 0; j < n; ++j) x[j] = {double(j % 7) - 3, double(j % 5)};
  fft::dft(x.data(), y.data(), n, fft::Direction::forward);
  const std::size_t plans = fft::cached_plans();
  fft::dft(y.data(), z.data(), n, fft::Direction::inverse);
  for (std::int64_t j = 0; j < n; ++j) {
    EXPECT_NEAR(z[j].real() / n, x[j].real(), 1e-12);
    EXPECT_NEAR(z[j].imag() / n, x[j].imag(), 1e-12);
  }
  // The input of an out-of-place transform is preserved. In place is another plan (another
  // algorithm: not the same bits, the same bound), within rounding of the out-of-place result.
  const std::vector<std::complex<double>> x_before = x;
  fft::dft(x.data(), y.data(), n, fft::Direction::forward);
  EXPECT_EQ(x, x_before);
  std::vector<std::complex<double>> w = x;
  fft::dft(w.data(), w.data(), n, fft::Direction::forward);
  for (std::int64_t j = 0; j < n; ++j) EXPECT_LT(std::abs(w[j] - y[j]), 1e-12);
  const std::size_t after = fft::cached_plans();
  fft::dft(x.data(), y.data(), n, fft::Direction::forward);
  EXPECT_EQ(fft::cached_plans(), after);
  EXPECT_GE(after, plans);
  EXPECT_THROW(fft::dft(x.data(), y.data(), 0, fft::Direction::forward), InvalidInput);
  EXPECT_EQ(fft::next_power_of_two(1), 1);
  EXPECT_EQ(fft::next_power_of_two(33), 64);
}

// covers: S4CONV-FFT-API
TEST(Fft, ThreadsPlanningAtOnceGetTheSameBits) {
  // Many threads plan new lengths and execute at once (planning is behind the mutex).
  std::vector<std::vector<std::complex<float>>> outs(8);
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([t, &outs] {
      for (std::int64_t n = 1; n <= 40; ++n) {
        std::vector<std::complex<float>> x(n), y(n);
        for (std::int64_t j = 0; j < n; ++j) x[j] = {float(j) / 3, -float(j) / 7};
        fft::dft(x.data(), y.data(), n, fft::Direction::forward);
        if (n == 40) outs[t] = y;
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 1; t < 8; ++t) EXPECT_EQ(outs[t], outs[0]);
}

// covers: S4CONV-ASSUME-FFTW S4CONV-FFT-BOUND S4CONV-FFT-BOUND-NORM
TEST(FftBound, HoldsOnSmallAndOddLengths) {
  std::vector<std::int64_t> lengths;
  for (std::int64_t n = 1; n <= 32; ++n) lengths.push_back(n);
  for (const std::int64_t n : {48, 60, 64, 96, 100, 121, 128, 169, 192, 210, 256, 384, 512, 768,
                               1000, 1009, 1024, 1536, 2048, 3072, 4096})
    lengths.push_back(n);
  conv_testing::check_fft_lengths(lengths, kVacuousRatio);
}

// covers: S4CONV-ASSUME-FFTW
TEST(FftBound, RoundingCounts) {
  EXPECT_EQ(fft_bound::roundings(1), 0);
  EXPECT_EQ(fft_bound::roundings(2), 6);
  EXPECT_EQ(fft_bound::roundings(1024), 60);
  EXPECT_EQ(fft_bound::roundings(3), 8);
  EXPECT_EQ(fft_bound::roundings(13), 12);
  EXPECT_EQ(fft_bound::roundings(12), 6 + 6 + 8);
  // 17: generic 23, Rader 5 (2 k(16) + 8) = 5 * 56 = 280, Bluestein 9 (12 * 7 + 10) = 846.
  EXPECT_EQ(fft_bound::roundings(17), 846);
}
