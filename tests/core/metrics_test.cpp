// covers: CORE-METRIC-ULP CORE-METRIC-VERDICT
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/metrics.hpp"

using namespace touchstone;

namespace {
Tensor<mp_real> exact_of(std::vector<double> v) {
  Tensor<mp_real> t(Shape{static_cast<Index>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t[static_cast<Index>(i)] = mp_real(v[i]);
  return t;
}
Tensor<double> of(std::vector<double> v) {
  const Index n = static_cast<Index>(v.size());
  return Tensor<double>(Shape{n}, std::move(v));
}
}  // namespace

TEST(Ulp, ByFormatAndBinade) {
  const WorkingPrecision p(128);
  EXPECT_EQ(ulp_in(mp_real(1.0), Format::float32), std::ldexp(1.0, -23));
  EXPECT_EQ(ulp_in(mp_real(1.5), Format::float32), std::ldexp(1.0, -23));
  EXPECT_EQ(ulp_in(mp_real(0.99), Format::float32), std::ldexp(1.0, -24));
  EXPECT_EQ(ulp_in(mp_real(1.0), Format::float64), std::ldexp(1.0, -52));
  EXPECT_EQ(ulp_in(mp_real(1.0), Format::bfloat16), std::ldexp(1.0, -7));
  // Subnormal range and zero: the subnormal quantum.
  EXPECT_EQ(ulp_in(mp_real(std::ldexp(1.0, -140)), Format::float32), std::ldexp(1.0, -149));
  EXPECT_EQ(ulp_in(mp_real(0), Format::float16), std::ldexp(1.0, -24));
}

TEST(Compare, MetricsAndWorstElement) {
  const WorkingPrecision p(256);
  const auto exact = exact_of({1.0, 2.0, -4.0});
  const auto computed = of({1.0 + std::ldexp(1.0, -23), 2.0, -4.0 - 4 * std::ldexp(1.0, -22)});
  const auto bound = of({1e-5, 1e-6, 1e-6});  // ratios 0.012, 0, 0.95
  const ErrorSummary s = compare("out", computed, exact, &bound, Format::float32);
  EXPECT_TRUE(s.pass());
  EXPECT_EQ(s.max_ulps, 2.0);  // element 2: 4*2^-22 = 2 ulps of 4 in float32
  EXPECT_DOUBLE_EQ(s.max_abs, std::ldexp(1.0, -20));
  EXPECT_EQ(s.worst, 2);
}

TEST(Compare, TheVerdictIsExactAtTheBoundary) {
  // Error exactly equal to the bound passes; an error beyond it by 2^-120 fails, though the
  // difference rounds to the bound in double and even at the default MPFR precision.
  const double b = std::ldexp(1.0, -30);
  const auto bound = of({b});
  Tensor<mp_real> exact(Shape{1}), below(Shape{1});
  {
    const WorkingPrecision p(256);
    exact[0] = mp_real(1.0);
    below[0] = mp_real(1.0) - mp_real(std::ldexp(1.0, -120));
  }
  EXPECT_TRUE(compare("x", of({1.0 + b}), exact, &bound, Format::float64).pass());
  EXPECT_FALSE(compare("x", of({1.0 + b}), below, &bound, Format::float64).pass());
}

TEST(Compare, NanRules) {
  const WorkingPrecision p(128);
  Tensor<mp_real> exact(Shape{3});
  exact[0] = std::numeric_limits<mp_real>::quiet_NaN();
  exact[1] = mp_real(1);
  exact[2] = mp_real(1);
  const auto bound = of({0.0, 1.0, NAN});
  // NaN expected and given: passes; a NaN where the oracle is finite fails; a NaN bound fails.
  const ErrorSummary s = compare("y", of({NAN, NAN, 1.0}), exact, &bound, Format::float32);
  EXPECT_EQ(s.nan_expected, 1);
  EXPECT_EQ(s.failures, 2);
  const ErrorSummary t = compare("y", of({1.0, 1.0, 1.0}), exact, &bound, Format::float32);
  EXPECT_EQ(t.failures, 2);  // finite where NaN was expected, and the NaN bound
}

TEST(Compare, InfiniteBoundMeansOutsideTheDomain) {
  const WorkingPrecision p(128);
  const auto exact = exact_of({1e39});
  const auto bound = of({INFINITY});
  const ErrorSummary s = compare("y", of({INFINITY}), exact, &bound, Format::float32);
  EXPECT_TRUE(s.pass());
  EXPECT_EQ(s.unbounded, 1);
}

TEST(Compare, ShapeMismatchIsInvalidInput) {
  const WorkingPrecision p(128);
  EXPECT_THROW(compare("out", of({1.0}), exact_of({1.0, 2.0}), nullptr, Format::float32), InvalidInput);
}
