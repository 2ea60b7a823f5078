// The registry-wide verdict test ([CORE-VERDICT-REGISTRY]): for every entry and every default
// size, `diff`'s own judging code (core's judge_diff, with the entry's any-order bound) must
// PASS the oracle correctly rounded to the storage format, and FAIL each of these wrong answers,
// one output at a time: one element NaN, every element NaN, every value times 1.5, the largest
// element times 1.01 (when that element is a normal number of the format). For float32 storage always; for float16 and bfloat16 where the entry's
// bound is finite on the default problem and its exact outputs fit the format (else the case is
// reported as not applicable, with the reason). A new entry gets this test by being registered.
// covers: CORE-VERDICT-REGISTRY CORE-METRIC-VERDICT CORE-DIFF-ORDER CORE-DIFF-STORAGE CORE-VERDICT-LOOP
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "registry_cases.hpp"
#include "touchstone/core/verdict.hpp"

using namespace touchstone;

namespace {

using testing_registry::Case;
using testing_registry::case_name;
class RegistryVerdict : public testing::TestWithParam<Case> {};

Arrays rounded(const ExactArrays& exact, Format f) {
  Arrays out;
  for (const auto& [name, t] : exact) {
    Tensor<double> d(t.shape());
    for (Index i = 0; i < t.count(); ++i) d[i] = round_to_format(to_double(t[i]), f);
    out[name] = std::move(d);
  }
  return out;
}

// Why `f` does not apply to this problem, or "" when it does: every exact output is a finite
// value inside f's range and the bound is finite everywhere.
std::string not_applicable(const ExactArrays& exact, const Arrays& bounds, Format f) {
  for (const auto& [name, t] : exact)
    for (Index i = 0; i < t.count(); ++i) {
      if (isnan(t[i])) continue;
      if (std::isinf(round_to_format(to_double(t[i]), f)))
        return name + " overflows " + std::string(format_name(f));
      if (!std::isfinite(bounds.at(name)[i]))
        return name + " has no finite " + std::string(format_name(f)) + " bound at element " +
               std::to_string(i);
    }
  return {};
}

// The outputs whose default problem is so ill-conditioned at its largest element that the
// worst-case any-order float32 bound there exceeds 1% (spec/core.md [CORE-VERDICT-REGISTRY]).
// Each was measured (bound/|x| in float32 at the largest element, seed 0) and is held to a
// ceiling 10% above it; the cpu-f32 backend's own error, in ulps, shows the conditioning.
struct IllConditioned {
  const char *entry, *size, *output;
  double ceiling;
  const char* why;
};
constexpr IllConditioned kIllConditioned[] = {
    {"dss.kernel_exp", "tiny", "K", 0.0524,
     "bound 0.0476: K's largest value is 6.1e-5 from terms of order 1; cpu-f32 errs by 8.4e3 ulps"},
    {"dss.kernel_softmax", "medium", "K", 0.0350,
     "bound 0.0317: softmax-weighted sum with heavy cancellation; cpu-f32 errs by 1.6e6 ulps"},
    {"s4d.kernel_backward", "tiny", "dA", 0.0542,
     "bound 0.0492: dA's largest value is 4.5e-4 from larger terms; cpu-f32 errs by 9.6e4 ulps"},
    {"s4.causal_conv", "medium", "y", 0.0439,
     "bound 0.0399: the FFT route's norm-wise bound u log2(n) |u|_2 |k|_2, the same at every "
     "element; cpu-f32 errs by 1.3e4 ulps at small elements"},
    {"performer.linear_attention_backward", "growing_subtraction", "dk", 0.0518,
     "bound 0.0470: the prefix states recovered by subtraction from a final state 100 times the "
     "early ones (spec/performer.md [PERF-SUBTRACTION-TABLE]); the stored form passes the 1% check"},
};
const IllConditioned* ill_conditioned(const std::string& entry, const std::string& size,
                                      const std::string& output) {
  for (const auto& c : kIllConditioned)
    if (entry == c.entry && size == c.size && output == c.output) return &c;
  return nullptr;
}

}  // namespace

TEST_P(RegistryVerdict, CorrectlyRoundedPassesAndEveryWrongAnswerFails) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 256);
  const double ulps = kDefaultElementaryUlps;
  int formats_run = 0;
  const Arrays bounds32 = diff_bound(a, *problem, Format::float32, ulps, exact);
  for (Format f : {Format::float32, Format::float16, Format::bfloat16}) {
    const std::string fmt(format_name(f));
    const Arrays bounds = diff_bound(a, *problem, f, ulps, exact);
    if (const std::string why = not_applicable(exact, bounds, f); !why.empty()) {
      // float32 must always apply: a bound that cannot judge the default problem is a defect.
      EXPECT_NE(f, Format::float32) << a.name() << " " << GetParam().size << ": " << why;
      std::printf("[ n/a ] %s %s %s: %s\n", a.name().c_str(), GetParam().size.c_str(), fmt.c_str(),
                  why.c_str());
      continue;
    }
    ++formats_run;
    const Arrays good = rounded(exact, f), exact_d = rounded(exact, Format::float64);
    auto judge_of = [&](const Arrays& theirs) {
      return judge_diff(a, *problem, theirs, f, ulps, exact, bounds, false);
    };
    const DiffReport ok = judge_of(good);
    ASSERT_EQ(ok.verdict, Verdict::pass) << a.name() << " " << fmt << ": the correctly rounded oracle";
    ASSERT_EQ(ok.outputs.size(), exact.size());

    for (const auto& output : exact) {
      // (clang 14 cannot capture structured bindings in the lambdas below)
      const std::string& name = output.first;
      const Tensor<mp_real>& t = output.second;
      const Tensor<double>& g = good.at(name);
      // The element of largest magnitude whose oracle value is finite and nonzero.
      Index largest = -1;
      for (Index i = 0; i < t.count(); ++i)
        if (std::isfinite(g[i]) && g[i] != 0 && (largest < 0 || std::fabs(g[i]) > std::fabs(g[largest])))
          largest = i;
      Index finite = -1;
      for (Index i = 0; i < t.count() && finite < 0; ++i)
        if (!isnan(t[i])) finite = i;
      // A wrong answer: `mutate` applied to `base` (the stored answer, or the exact values for a
      // wrong value that is then stored), then rounded to the format.
      auto expect_fail = [&](const char* what, const Arrays& base, auto mutate) {
        Arrays theirs = good;
        theirs.at(name) = base.at(name);
        Tensor<double>& x = theirs.at(name);
        mutate(x);
        for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(x[i], f);
        const DiffReport r = judge_of(theirs);
        EXPECT_EQ(r.verdict, Verdict::fail)
            << a.name() << " " << GetParam().size << " " << fmt << " " << name << ": " << what
            << " got " << verdict_name(r.verdict) << "; at the largest element |x| "
            << (largest >= 0 ? std::fabs(g[largest]) : 0.0) << " bound/|x| "
            << (largest >= 0 ? bounds.at(name)[largest] / std::fabs(g[largest]) : 0.0)
            << " float32 bound/|x| "
            << (largest >= 0 ? bounds32.at(name)[largest] / std::fabs(g[largest]) : 0.0);
        for (const auto& j : r.outputs)
          if (j.output == name) EXPECT_GT(j.summary.outside, 0) << name << " " << what;
          else EXPECT_EQ(j.summary.outside, 0) << j.output << " untouched, " << what;
      };
      const double nan = std::numeric_limits<double>::quiet_NaN();
      if (finite >= 0) {
        expect_fail("one NaN element", good, [&](Tensor<double>& x) { x[finite] = nan; });
        expect_fail("every element NaN", good, [&](Tensor<double>& x) {
          for (Index i = 0; i < x.count(); ++i) x[i] = nan;
        });
      }
      if (largest < 0) {
        std::printf("[ n/a ] %s %s %s %s: every value 0 or NaN, no scaling can be seen\n",
                    a.name().c_str(), GetParam().size.c_str(), fmt.c_str(), name.c_str());
        continue;
      }
      expect_fail("every value times 1.5", exact_d, [&](Tensor<double>& x) {
        for (Index i = 0; i < x.count(); ++i) x[i] *= 1.5;
      });
      // Below the format's smallest normal its own rounding may exceed 1% (a float16 gradient of
      // 1.8e-7 rounds with a 2% error), so a correct bound must accept 1.01 x there.
      if (std::fabs(g[largest]) < std::ldexp(1.0, format_info(f).emin)) {
        std::printf("[ n/a ] %s %s %s %s: largest |value| %g is subnormal in %s, where rounding "
                    "alone can exceed 1%%\n",
                    a.name().c_str(), GetParam().size.c_str(), fmt.c_str(), name.c_str(),
                    std::fabs(g[largest]), fmt.c_str());
        continue;
      }
      if (const IllConditioned* ill = ill_conditioned(a.name(), GetParam().size, name)) {
        // The worst-case any-order bound is over 1% of this element: a 1% error cannot be told
        // from some order's rounding. Hold the bound to its measured size instead, and show that
        // an error just past that size is caught.
        const double ratio32 = bounds32.at(name)[largest] / std::fabs(exact_d.at(name)[largest]);
        EXPECT_LE(ratio32, ill->ceiling) << a.name() << " " << name << ": the bound grew";
        EXPECT_GT(ratio32, 0.01) << a.name() << " " << name << ": now tight enough for the 1% check; "
                                 << "remove it from the ill-conditioned list";
        std::printf("[ ill ] %s %s %s %s: float32 bound/|x| = %.4f at the largest element (%s)\n",
                    a.name().c_str(), GetParam().size.c_str(), fmt.c_str(), name.c_str(), ratio32, ill->why);
        const double past = 1 + 2 * ill->ceiling;
        expect_fail("the largest element past the ill-conditioned ceiling", exact_d,
                    [&](Tensor<double>& x) { x[largest] *= past; });
        continue;
      }
      expect_fail("the largest element times 1.01", exact_d, [&](Tensor<double>& x) { x[largest] *= 1.01; });
    }
  }
  EXPECT_GE(formats_run, 1);
}

// covers: CORE-DIFF-ORDER
// An entry whose any-order bound rests on one order says so; the report carries it.
TEST(DiffOrder, EntriesThatAssumeAnOrderNameIt) {
  for (const char* name : {"s4.cauchy_backward", "s4.kernel_dplr_backward", "s4d.kernel_backward",
                           "dss.kernel_exp_backward"}) {
    const Algorithm& a = builtin_registry().get(name);
    EXPECT_FALSE(a.any_order_assumption().empty()) << name;
  }
  for (const char* name : {"mamba.selective_scan", "s4.cauchy", "s4d.kernel"})
    EXPECT_TRUE(builtin_registry().get(name).any_order_assumption().empty()) << name;
}

INSTANTIATE_TEST_SUITE_P(Registry, RegistryVerdict, testing::ValuesIn(testing_registry::all_cases()),
                         case_name);
