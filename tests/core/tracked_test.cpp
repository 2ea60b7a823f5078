// core/tracked.hpp against MPFR: for random float32 operations on computed operands, the exact
// result lies in the tracked interval and the float32 result within the tracked error.
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/tracked.hpp"

namespace touchstone {
namespace {

// A computed float32 value with its exact counterpart and its Tracked description.
struct Value {
  float computed;
  mp_real exact;
  Tracked t;
};

void check(const Value& v, const char* what, int i) {
  EXPECT_LE(mp_real(v.t.lo), v.exact) << what << " #" << i;
  EXPECT_GE(mp_real(v.t.hi), v.exact) << what << " #" << i;
  const double err = to_double(abs(mp_real(v.computed) - v.exact));
  EXPECT_LE(err, v.t.err * (1 + 1e-12)) << what << " #" << i << ": computed " << v.computed
                                        << " exact " << to_double(v.exact);
}

// covers: CORE-TRACKED CORE-TRACKED-ADD CORE-TRACKED-ELEMENTARY CORE-ROUND-MUL CORE-ROUND-FMA
TEST(Tracked, Float32OperationsWithinTrackedBounds) {
  const WorkingPrecision precision(200);
  const Rounding r = Rounding::of(format_info(Format::float32));
  PhiloxStream rng(9, "tracked-test");
  auto input = [&](double lo, double hi) {
    const float x = static_cast<float>(rng.next_uniform(lo, hi));
    return Value{x, mp_real(x), Tracked::exact(x)};
  };
  double worst_ratio = 0;
  for (int i = 0; i < 20000; ++i) {
    const Value a = input(-3, 3), b = input(-3, 3), c = input(-3, 3);
    // Operands with errors of their own: a product and a sum of inputs.
    const Value ab{a.computed * b.computed, a.exact * b.exact, mul(a.t, b.t, r)};
    const Value bc{b.computed + c.computed, b.exact + c.exact, add(b.t, c.t, r)};
    check(ab, "mul", i);
    check(bc, "add", i);
    const Value f{std::fmaf(ab.computed, bc.computed, a.computed), ab.exact * bc.exact + a.exact,
                  fma(ab.t, bc.t, a.t, r)};
    check(f, "fma", i);
    const Value s{ab.computed - bc.computed, ab.exact - bc.exact, sub(ab.t, bc.t, r)};
    check(s, "sub", i);
    // Elementary functions on computed arguments, evaluated correctly rounded (0.5 ulp).
    const Value e{static_cast<float>(std::exp(static_cast<double>(bc.computed))), exp(bc.exact),
                  exp(bc.t, 0.5, r)};
    check(e, "exp", i);
    const double sd = 1 / (1 + std::exp(-static_cast<double>(ab.computed)));
    const Value sg{static_cast<float>(sd), 1 / (1 + exp(-ab.exact)), sigmoid(ab.t, 0.5, r)};
    check(sg, "sigmoid", i);
    const Value sl{static_cast<float>(ab.computed * sd), ab.exact / (1 + exp(-ab.exact)),
                   silu(ab.t, 0.5, r)};
    check(sl, "silu", i);
    const double x20 = 20 + bc.computed * 1e-6;  // near the softplus threshold
    const Value near{static_cast<float>(x20), mp_real(static_cast<float>(x20)), Tracked::exact(static_cast<float>(x20))};
    const Value arg{near.computed + a.computed * 1e-6f, near.exact + a.exact * mp_real(1e-6f),
                    add(near.t, mul(a.t, Tracked::exact(1e-6f), r), r)};
    const float sp = arg.computed > 20 ? arg.computed : static_cast<float>(std::log1p(std::exp(static_cast<double>(arg.computed))));
    const Value spv{sp, arg.exact > 20 ? arg.exact : log1p(exp(arg.exact)), softplus_thresholded(arg.t, 0.5, r)};
    check(spv, "softplus", i);
    if (f.t.err > 0) worst_ratio = std::max(worst_ratio, to_double(abs(mp_real(f.computed) - f.exact)) / f.t.err);
  }
  // Not vacuous: some fma errors reach a sizeable fraction of their bound.
  EXPECT_GT(worst_ratio, 0.05);
}

// covers: CORE-TRACKED-DIV CORE-TRACKED-MAX
// Division and maximum of computed operands (a product and a sum of float32 inputs, so both carry
// errors): the exact result in the tracked interval, the float32 result within the tracked
// error, and some errors a sizeable fraction of it. A divisor whose range reaches 0 is outside the
// domain. Dropping the propagated part of the quotient's bound (keeping only its rounding) is
// violated on these samples: the test can fail.
TEST(Tracked, DivisionAndMaximumWithinTrackedBounds) {
  const WorkingPrecision precision(200);
  const Rounding r = Rounding::of(format_info(Format::float32));
  PhiloxStream rng(11, "tracked-div");
  auto input = [&](double lo, double hi) {
    const float x = static_cast<float>(rng.next_uniform(lo, hi));
    return Value{x, mp_real(x), Tracked::exact(x)};
  };
  double worst_ratio = 0;
  int rounding_only_violated = 0;
  for (int i = 0; i < 20000; ++i) {
    const Value a = input(-3, 3), b = input(-3, 3), c = input(0.5, 3), d = input(-0.4, 0.4);
    const Value x{a.computed * b.computed, a.exact * b.exact, mul(a.t, b.t, r)};
    const Value y{c.computed + d.computed, c.exact + d.exact, add(c.t, d.t, r)};  // in [0.1, 3.4]
    const TrackedQuotient q = div(x.t, y.t, r);
    ASSERT_TRUE(q.defined) << i;
    const Value qv{x.computed / y.computed, x.exact / y.exact, q.value};
    check(qv, "div", i);
    const double err = to_double(abs(mp_real(qv.computed) - qv.exact));
    if (q.value.err > 0) worst_ratio = std::max(worst_ratio, err / q.value.err);
    const double rounding_only = r.u * q.value.mag() + r.eta;
    if (err > rounding_only) ++rounding_only_violated;
    const Value m{std::max(x.computed, y.computed), x.exact > y.exact ? x.exact : y.exact, max(x.t, y.t)};
    check(m, "max", i);
  }
  EXPECT_GT(worst_ratio, 0.05);
  EXPECT_GT(rounding_only_violated, 0);
  // A divisor that may be 0: [-0.5, 0.5], or [1, 2] with an error of 1.
  EXPECT_FALSE(div(Tracked::exact(1), Tracked::range(-0.5, 0.5), r).defined);
  EXPECT_FALSE(div(Tracked::exact(1), Tracked{1, 2, 1}, r).defined);
}

// covers: CORE-TRACKED-SUM
TEST(Tracked, SumsInAnyOrderWithinBound) {
  const WorkingPrecision precision(200);
  const Rounding r = Rounding::of(format_info(Format::float32));
  PhiloxStream rng(10, "tracked-sum");
  for (int trial = 0; trial < 200; ++trial) {
    TrackedSum sum;
    std::vector<float> terms(64);
    mp_real exact = 0;
    for (float& t : terms) {
      t = static_cast<float>(rng.next_uniform(-1, 1));
      exact += mp_real(t);
      sum.add_term(Tracked::exact(t));
    }
    // Two orders: left to right, and pairwise.
    float seq = 0;
    for (float t : terms) seq += t;
    std::vector<float> level = terms;
    while (level.size() > 1) {
      std::vector<float> next;
      for (std::size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(level[i] + level[i + 1]);
      level = next;
    }
    const Tracked s = sum.result(r);
    EXPECT_LE(to_double(abs(mp_real(seq) - exact)), s.err);
    EXPECT_LE(to_double(abs(mp_real(level[0]) - exact)), s.err);
  }
}

}  // namespace
}  // namespace touchstone

namespace touchstone {
namespace {

// covers: CORE-TRACKED-SUM
// gamma_k's table (float32's and binary64's u, integer k <= 256) holds exactly what the formula
// gives at run time, so the bounds that read it are bit for bit those that called the formula;
// other arguments take the formula; and either is (1 + u)^k - 1 within a few ulps (MPFR).
TEST(Tracked, GammaTableIsTheFormulaBitForBit) {
  volatile double u32 = 0x1p-24, u64 = 0x1p-53;  // not folded by the compiler
  for (double u : {static_cast<double>(u32), static_cast<double>(u64)})
    for (int k = 0; k <= 300; ++k) {
      const double formula = std::expm1(static_cast<double>(k) * std::log1p(u));
      EXPECT_EQ(gamma_k(u, k), formula) << "u " << u << " k " << k;
      const WorkingPrecision wp(256);
      const mp_real exact = pow(mp_real(1) + mp_real(u), k) - 1;
      EXPECT_LE(abs(mp_real(gamma_k(u, k)) - exact), mp_real(8 * 0x1p-53) * exact) << "u " << u << " k " << k;
    }
  EXPECT_EQ(gamma_k(0x1p-24, 2.5), std::expm1(2.5 * std::log1p(0x1p-24)));  // not an integer
  EXPECT_EQ(gamma_k(0x1p-11, 3), std::expm1(3 * std::log1p(0x1p-11)));     // float16's u
  EXPECT_EQ(gamma_k(0x1p-24, 1e6), std::expm1(1e6 * std::log1p(0x1p-24)));  // past the table
}

}  // namespace
}  // namespace touchstone
