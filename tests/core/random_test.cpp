// covers: CORE-RNG CORE-RNG-UNIFORM CORE-RNG-NORMAL
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/random.hpp"

using namespace touchstone;

TEST(Philox, KnownAnswers) {
  // Random123 1.14's kat_vectors for philox4x32 with 10 rounds.
  using B = std::array<std::uint32_t, 4>;
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (B{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (B{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (B{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, StreamsAreKeyedBySeedAndCounterByNameAndIndex) {
  const PhiloxStream s(0x299f31d0a4093822ull, "u");
  const std::uint64_t h = fnv1a64("u");
  EXPECT_EQ(s.block(0x85a308d3243f6a88ull),
            philox4x32_10({0x243f6a88, 0x85a308d3, static_cast<std::uint32_t>(h),
                           static_cast<std::uint32_t>(h >> 32)},
                          {0xa4093822, 0x299f31d0}));
  EXPECT_NE(PhiloxStream(1, "u").uniform(0), PhiloxStream(1, "v").uniform(0));
  EXPECT_NE(PhiloxStream(1, "u").uniform(0), PhiloxStream(2, "u").uniform(0));
  EXPECT_EQ(PhiloxStream(7, "u").uniform(5), PhiloxStream(7, "u").uniform(5));
}

TEST(Philox, Fnv1a64) {
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);  // the published FNV-1a test vector
}

TEST(Uniform, ExactFormulaAndOpenInterval) {
  const PhiloxStream s(3, "x");
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const auto w = s.block(i);
    const std::uint64_t x = ((std::uint64_t{w[1]} << 32) | w[0]) >> 12;
    const double u = s.uniform(i);
    EXPECT_EQ(u, std::ldexp(static_cast<double>(2 * x + 1), -53));
    EXPECT_GT(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(Uniform, MomentsWithinFiveSigma) {
  // Mean 1/2 and variance 1/12: with n draws the sample mean's standard deviation is
  // sqrt(1/(12 n)); five of them is a false-alarm rate below 1e-6.
  const PhiloxStream s(11, "moments");
  const int n = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform(static_cast<std::uint64_t>(i));
    sum += u;
    sum2 += u * u;
  }
  const double mean = sum / n;
  EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / (12.0 * n)));
  // Var(u^2) = 1/5 - 1/9 = 4/45.
  EXPECT_NEAR(sum2 / n, 1.0 / 3.0, 5 * std::sqrt(4.0 / 45.0 / n));
}

TEST(Normal, MomentsWithinFiveSigma) {
  const PhiloxStream s(12, "normal");
  const int n = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = s.normal(static_cast<std::uint64_t>(i));
    sum += z;
    sum2 += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 5 * std::sqrt(1.0 / n));
  EXPECT_NEAR(sum2 / n, 1.0, 5 * std::sqrt(2.0 / n));  // Var(z^2) = 2
}

TEST(LogUniform, SpansTheRequestedBinades) {
  PhiloxStream s(5, "lu");
  int lo = 1000, hi = -1000;
  for (int i = 0; i < 5000; ++i) {
    const double v = s.next_log_uniform(-30, 10, true);
    const int e = std::ilogb(v);
    lo = std::min(lo, e);
    hi = std::max(hi, e);
    ASSERT_GE(e, -30);
    ASSERT_LE(e, 10);
  }
  EXPECT_EQ(lo, -30);
  EXPECT_EQ(hi, 10);
}
