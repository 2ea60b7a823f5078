// covers: CORE-METRIC-ULP CORE-METRIC-VERDICT CORE-DIFF-TIERS
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

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

// [CORE-DIFF-TIERS] The enclosure never decides other than the exact value would: random exact
// values x, enclosures v = x + d with |d| <= r, answers and bounds drawn near the decision's edge,
// in float32 and bfloat16 storage; an element the enclosure settles must be judged the same as
// against x, and one it cannot must be left open. The test fails if `enclosed` ignored r (it then
// settles elements whose verdict flips inside the enclosure).
TEST(SummaryBuilder, TheEnclosureAgreesWithTheExactVerdictOrLeavesItOpen) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(-1, 1);
  Index settled = 0, open = 0;
  for (Format f : {Format::float32, Format::bfloat16}) {
    for (int trial = 0; trial < 20000; ++trial) {
      const double x = std::ldexp(unit(rng), static_cast<int>(rng() % 40) - 20);
      const double r = std::fabs(x) * std::ldexp(1.0, -static_cast<int>(rng() % 30) - 20);
      const double v = x + 0.5 * r * unit(rng);  // |v - x| <= r/2 + ulp(x)/2 <= r
      const double b = std::fabs(x) * std::ldexp(1.0, -static_cast<int>(rng() % 20) - 5);
      // An answer at the bound's edge, give or take a few r.
      const double c = x + (trial % 2 ? 1 : -1) * (b + 4 * r * unit(rng));
      SummaryBuilder exact(f, 1), enclosed(f, 1);
      exact.exact(0, c, mp_real(x), b);
      if (!enclosed.enclosed(0, c, v, r, b, b)) {
        ++open;
        continue;
      }
      ++settled;
      const ErrorSummary e = exact.finish(), g = enclosed.finish();
      ASSERT_EQ(e.within, g.within) << "x " << x << " v " << v << " r " << r << " c " << c << " b " << b;
      ASSERT_EQ(e.outside, g.outside);
      EXPECT_EQ(g.enclosed, 1);
      EXPECT_EQ(g.error_uncertainty, r);
    }
  }
  EXPECT_GT(settled, 1000);
  EXPECT_GT(open, 1000) << "answers at the edge must often be left to the oracle";
}

TEST(SummaryBuilder, TheEnclosureFailsWrongAnswers) {
  const double x = 1.25, r = 1e-15, b = 1e-6;
  auto judge = [&](double c) {
    SummaryBuilder s(Format::float32, 1);
    EXPECT_TRUE(s.enclosed(0, c, x, r, b, b)) << c;
    return s.finish();
  };
  EXPECT_EQ(judge(x).within, 1);
  EXPECT_EQ(judge(NAN).outside, 1);
  EXPECT_EQ(judge(INFINITY).outside, 1);  // x is finite and far from float32's overflow
  EXPECT_EQ(judge(1.5 * x).outside, 1);
  EXPECT_EQ(judge(x * (1 + 1e-5)).outside, 1);
  // An infinite bound settles a finite answer as unjudged, never within.
  SummaryBuilder s(Format::float32, 1);
  EXPECT_TRUE(s.enclosed(0, x, x, r, INFINITY, INFINITY));
  EXPECT_EQ(s.finish().unjudged, 1);
  // A non-finite enclosure settles nothing.
  SummaryBuilder t(Format::float32, 1);
  EXPECT_FALSE(t.enclosed(0, x, NAN, r, b, b));
  EXPECT_FALSE(t.enclosed(0, x, x, INFINITY, b, b));
  // An exact value near float32's overflow: an infinite answer is within only where every value
  // of the enclosure rounds to that infinity.
  const double big = 3.5e38;  // beyond float32's max + half an ulp
  SummaryBuilder u(Format::float32, 1);
  EXPECT_TRUE(u.enclosed(0, INFINITY, big, 1e20, b, b));
  EXPECT_EQ(u.finish().within, 1);
  SummaryBuilder w(Format::float32, 1);
  EXPECT_TRUE(w.enclosed(0, -INFINITY, big, 1e20, b, b));
  EXPECT_EQ(w.finish().outside, 1);
  SummaryBuilder z(Format::float32, 1);
  EXPECT_FALSE(z.enclosed(0, INFINITY, 3.4028235e38, 1e33, b, b)) << "straddles the overflow threshold";
}

// The summary does not depend on the order elements arrive in (slices finish in any order).
TEST(SummaryBuilder, OrderDoesNotMatter) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  const Index n = 500;
  std::vector<double> x(n), c(n), b(n);
  for (Index i = 0; i < n; ++i) {
    x[i] = g(rng);
    b[i] = i % 50 == 7 ? INFINITY : 1e-3;
    c[i] = x[i] + (i % 97 == 5 ? 1.0 : 1e-4 * g(rng));
  }
  std::vector<Index> order(n);
  for (Index i = 0; i < n; ++i) order[i] = i;
  SummaryBuilder forward(Format::float32, n), shuffled(Format::float32, n);
  for (Index i : order) forward.exact(i, c[i], mp_real(x[i]), b[i]);
  std::shuffle(order.begin(), order.end(), rng);
  for (Index i : order) shuffled.exact(i, c[i], mp_real(x[i]), b[i]);
  const ErrorSummary p = forward.finish(), q = shuffled.finish();
  EXPECT_EQ(p.outside, q.outside);
  EXPECT_GT(p.outside, 0);
  EXPECT_EQ(p.unjudged, q.unjudged);
  EXPECT_EQ(p.worst, q.worst);
  EXPECT_EQ(p.first_unjudged, q.first_unjudged);
  EXPECT_EQ(p.median_ratio, q.median_ratio);
  ASSERT_EQ(p.first_failures.size(), q.first_failures.size());
  for (std::size_t k = 0; k < p.first_failures.size(); ++k)
    EXPECT_EQ(p.first_failures[k].index, q.first_failures[k].index);
  EXPECT_EQ(p.worst, p.first_failures.front().index);
}
