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
  // NaN expected and given: within; a NaN where the oracle is finite: outside; a NaN bound on
  // finite values: unjudged (the bound's evaluation failed), never within.
  const ErrorSummary s = compare("y", of({NAN, NAN, 1.0}), exact, &bound, Format::float32);
  EXPECT_EQ(s.nan_expected, 1);
  EXPECT_EQ(s.within, 1);
  EXPECT_EQ(s.outside, 1);
  EXPECT_EQ(s.unjudged, 1);
  EXPECT_EQ(s.verdict(), Verdict::fail);
  const ErrorSummary t = compare("y", of({1.0, 1.0, 1.0}), exact, &bound, Format::float32);
  EXPECT_EQ(t.outside, 1);  // finite where NaN was expected
  EXPECT_EQ(t.unjudged, 1);
  EXPECT_EQ(t.verdict(), Verdict::fail);
}

// covers: CORE-METRIC-VERDICT
// The defect this rule fixes: an element with an infinite bound was skipped before its value was
// looked at, so NaN, x1.5 and a 1% error all "passed" with max abs error 0.
TEST(Compare, AnInfiniteBoundJudgesNothingButStillMeasures) {
  const WorkingPrecision p(128);
  const auto exact = exact_of({1.0, 2.0, -4.0});
  const auto inf = of({INFINITY, INFINITY, INFINITY});
  // Finite values: unjudged, INCONCLUSIVE (never PASS), the error measured and reported.
  const ErrorSummary scaled = compare("y", of({1.5, 3.0, -6.0}), exact, &inf, Format::float32);
  EXPECT_EQ(scaled.unjudged, 3);
  EXPECT_EQ(scaled.verdict(), Verdict::inconclusive);
  EXPECT_FALSE(scaled.pass());
  EXPECT_EQ(scaled.max_abs, 2.0);
  EXPECT_EQ(scaled.max_rel, 0.5);
  EXPECT_EQ(scaled.first_unjudged, 0);
  // NaN or Inf where the oracle is finite: outside, whatever the bound.
  for (double bad : {double(NAN), double(INFINITY), -double(INFINITY)}) {
    const ErrorSummary s = compare("y", of({1.0, bad, -4.0}), exact, &inf, Format::float32);
    EXPECT_EQ(s.outside, 1) << bad;
    EXPECT_EQ(s.verdict(), Verdict::fail) << bad;
    EXPECT_EQ(s.worst, 1) << bad;
  }
  // No bound at all: the same (unjudged), never PASS.
  EXPECT_EQ(compare("y", of({1.0, 2.0, -4.0}), exact, nullptr, Format::float32).verdict(),
            Verdict::inconclusive);
}

// covers: CORE-METRIC-VERDICT
TEST(Compare, ExactInfinitiesMustBeMatched) {
  const WorkingPrecision p(128);
  Tensor<mp_real> exact(Shape{2});
  exact[0] = std::numeric_limits<mp_real>::infinity();
  exact[1] = -std::numeric_limits<mp_real>::infinity();
  const auto bound = of({1.0, 1.0});
  EXPECT_EQ(compare("y", of({INFINITY, -INFINITY}), exact, &bound, Format::float32).verdict(), Verdict::pass);
  EXPECT_EQ(compare("y", of({-INFINITY, -INFINITY}), exact, &bound, Format::float32).outside, 1);
  EXPECT_EQ(compare("y", of({INFINITY, 3e38}), exact, &bound, Format::float32).outside, 1);
  EXPECT_EQ(compare("y", of({NAN, -INFINITY}), exact, &bound, Format::float32).outside, 1);
}

// covers: CORE-METRIC-VERDICT
// An exact value past the format's largest finite number rounds to infinity: that infinity is the
// right answer, and the other one, NaN or the largest finite number are not.
TEST(Compare, OverflowToTheRightInfinityIsWithin) {
  const WorkingPrecision p(128);
  const auto exact = exact_of({-1e60, 4e38});
  const auto inf = of({INFINITY, INFINITY});
  EXPECT_EQ(compare("y", of({-INFINITY, INFINITY}), exact, &inf, Format::float32).verdict(), Verdict::pass);
  EXPECT_EQ(compare("y", of({INFINITY, INFINITY}), exact, &inf, Format::float32).outside, 1);
  EXPECT_EQ(compare("y", of({-INFINITY, NAN}), exact, &inf, Format::float32).outside, 1);
  // In float64 1e60 is finite: infinity is outside.
  EXPECT_EQ(compare("y", of({-INFINITY, 4e38}), exact, &inf, Format::float64).outside, 1);
  // Just below float32's overflow threshold (max + half an ulp) the right answer is finite.
  const double threshold = std::ldexp(2.0 - std::ldexp(1.0, -24), 127);
  EXPECT_EQ(compare("y", of({INFINITY}), exact_of({std::nextafter(threshold, 0.0)}), nullptr,
                    Format::float32).outside, 1);
  EXPECT_EQ(compare("y", of({INFINITY}), exact_of({threshold}), nullptr, Format::float32).outside, 0);
}

// covers: CORE-METRIC-VERDICT
TEST(Compare, OneElementOutsideFailsAndIsNamed) {
  const WorkingPrecision p(128);
  const auto exact = exact_of({1.0, 2.0, -4.0, 8.0});
  const auto bound = of({1e-6, 1e-6, 1e-6, 1e-6});
  const ErrorSummary s = compare("y", of({1.0, 2.0, -4.0 * 1.01, 8.0}), exact, &bound, Format::float32);
  EXPECT_EQ(s.within, 3);
  EXPECT_EQ(s.outside, 1);
  EXPECT_EQ(s.worst, 2);
  ASSERT_EQ(s.first_failures.size(), 1u);
  EXPECT_EQ(s.first_failures[0].index, 2);
  EXPECT_EQ(s.verdict(), Verdict::fail);
  // A mixture of unjudged and outside is FAIL, not INCONCLUSIVE.
  const auto mixed = of({INFINITY, 1e-6, 1e-6, 1e-6});
  EXPECT_EQ(compare("y", of({5.0, 2.0, -4.04, 8.0}), exact, &mixed, Format::float32).verdict(), Verdict::fail);
}

TEST(Compare, MedianTightness) {
  const WorkingPrecision p(128);
  const auto exact = exact_of({1.0, 1.0, 1.0});
  const auto bound = of({1.0, 1.0, 1.0});
  const ErrorSummary s = compare("y", of({1.125, 1.25, 1.5}), exact, &bound, Format::float64);
  EXPECT_EQ(s.max_ratio, 0.5);
  EXPECT_EQ(s.median_ratio, 0.25);
}

TEST(Verdict, CombineOrdersFailOverInconclusiveOverPass) {
  EXPECT_EQ(combine(Verdict::pass, Verdict::pass), Verdict::pass);
  EXPECT_EQ(combine(Verdict::pass, Verdict::inconclusive), Verdict::inconclusive);
  EXPECT_EQ(combine(Verdict::inconclusive, Verdict::fail), Verdict::fail);
  EXPECT_EQ(combine(Verdict::fail, Verdict::pass), Verdict::fail);
  EXPECT_STREQ(verdict_name(Verdict::inconclusive), "INCONCLUSIVE");
}

TEST(Compare, ShapeMismatchIsInvalidInput) {
  const WorkingPrecision p(128);
  EXPECT_THROW(compare("out", of({1.0}), exact_of({1.0, 2.0}), nullptr, Format::float32), InvalidInput);
}

// covers: CORE-OWN-DOMAIN
// A backend's NaN where its own bound is +inf takes the oracle's value; a NaN where the bound is
// finite, or a wrong finite value anywhere, stays.
TEST(Compare, OwnDomainViewMasksOnlyNonFiniteOutsideTheDomain) {
  const WorkingPrecision p(128);
  const auto exact = exact_of({1.0, 2.0, 3.0, 4.0});
  const auto bound = of({INFINITY, 1e-6, INFINITY, NAN});
  Index masked = 0;
  const auto v = own_domain_view(of({NAN, NAN, 3.5, -INFINITY}), exact, bound, &masked);
  EXPECT_EQ(masked, 2);
  EXPECT_EQ(v[0], 1.0);
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_EQ(v[2], 3.5);
  EXPECT_EQ(v[3], 4.0);
  const ErrorSummary s = compare("y", v, exact, &bound, Format::float64);
  EXPECT_EQ(s.outside, 1);   // the NaN under a finite bound
  EXPECT_EQ(s.unjudged, 3);  // 3.5, and the two masked elements: unjudged, never within
}
