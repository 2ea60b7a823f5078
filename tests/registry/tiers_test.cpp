// The oracle tiers of `diff` ([CORE-DIFF-TIERS], [CORE-SLICES]), for every registered entry on its
// first default size:
// - the fast tier (the float64 enclosure, MPFR only for what it cannot settle) gives the same
//   verdict, and the same within/outside/unjudged counts per output, as judging every element
//   against the MPFR oracle, in float32 and bfloat16 storage, on the correctly rounded oracle, on
//   wrong answers (x1.5, a NaN, the largest element 1% off) and on answers placed a hair inside and
//   a hair outside the bound at three elements per output, which the enclosure cannot settle, so
//   that escalation to MPFR runs;
// - the MPFR tier, run slice by slice where the entry declares slices, equals the same judgement;
// - an entry's declared slices have oracles equal to the whole problem's at their elements.
// covers: CORE-DIFF-TIERS CORE-SLICES
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "registry_cases.hpp"
#include "touchstone/core/slices.hpp"
#include "touchstone/core/verdict.hpp"

using namespace touchstone;

namespace {

using testing_registry::Case;

std::vector<Case> first_sizes() {
  std::vector<Case> v;
  for (const Algorithm* a : builtin_registry().all()) v.push_back({a, a->sizes().front()});
  return v;
}

std::string case_name(const testing::TestParamInfo<Case>& info) { return testing_registry::case_name(info); }

class OracleTiers : public testing::TestWithParam<Case> {};

// Elements escalated to MPFR over the whole suite (checked by EscalationRan, which runs last).
Index escalated_total = 0;

Arrays rounded(const ExactArrays& exact, Format f) {
  Arrays out;
  for (const auto& [name, t] : exact) {
    Tensor<double> d(t.shape());
    for (Index i = 0; i < t.count(); ++i) d[i] = round_to_format(to_double(t[i]), f);
    out[name] = std::move(d);
  }
  return out;
}

// Three elements per output (first, middle, last with a finite bound and a finite value) moved
// to v + sign * bound * (1 + rel), v being touchstone's float64 backend's value: a hair inside the
// bound for rel < 0, outside for rel > 0, whatever the oracle says. Where that backend's own
// bound r exceeds the rounding of the answer (4 ulps of v), the enclosure [v - r, v + r] cannot
// tell which side of the bound the answer lies on, and the element must go to MPFR: *undecidable
// counts those.
Arrays at_edge(const ExactArrays& exact, const Arrays& bounds, const Arrays& v64, const Arrays& r64,
               Format f, double rel, Index* undecidable) {
  Arrays out = rounded(exact, f);
  for (auto& [name, t] : out) {
    const auto& b = bounds.at(name);
    const auto& v = v64.at(name);
    const auto& r = r64.at(name);
    std::vector<Index> ok;
    for (Index i = 0; i < t.count(); ++i)
      if (std::isfinite(v[i]) && std::isfinite(b[i]) && b[i] > 0 && isfinite(exact.at(name)[i])) ok.push_back(i);
    if (ok.empty()) continue;
    std::vector<Index> pick{ok.front(), ok[ok.size() / 2], ok.back()};
    pick.erase(std::unique(pick.begin(), pick.end()), pick.end());
    for (Index i : pick) {
      const double sign = (i % 2) ? 1.0 : -1.0;
      t[i] = v[i] + sign * b[i] * (1 + rel);
      if (r[i] > 4 * std::ldexp(std::numeric_limits<double>::epsilon(), std::ilogb(t[i])) &&
          r[i] > 4 * b[i] * std::fabs(rel))
        ++*undecidable;
    }
  }
  return out;
}

// touchstone's float64 CPU backend and its bound, as the fast tier uses them.
std::pair<Arrays, Arrays> float64_enclosure(const Algorithm& a, const ProblemHandle& p) {
  for (const auto& b : a.backends())
    if (b.format == Format::float64 && b.name.rfind("cpu-", 0) == 0) return {b.run(p), b.bound(p)};
  return {};
}

void expect_same(const DiffReport& fast, const DiffReport& mpfr, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(fast.verdict, mpfr.verdict);
  ASSERT_EQ(fast.outputs.size(), mpfr.outputs.size());
  for (std::size_t k = 0; k < fast.outputs.size(); ++k) {
    const auto &x = fast.outputs[k].summary, &y = mpfr.outputs[k].summary;
    EXPECT_EQ(fast.outputs[k].output, mpfr.outputs[k].output);
    EXPECT_EQ(x.within, y.within) << fast.outputs[k].output;
    EXPECT_EQ(x.outside, y.outside) << fast.outputs[k].output;
    EXPECT_EQ(x.unjudged, y.unjudged) << fast.outputs[k].output;
    EXPECT_EQ(x.nan_expected, y.nan_expected) << fast.outputs[k].output;
    if (y.outside) {  // the first outside element, by index, in both
      EXPECT_EQ(x.worst, y.worst) << fast.outputs[k].output;
      ASSERT_FALSE(x.first_failures.empty());
      EXPECT_EQ(x.first_failures.front().index, y.first_failures.front().index);
    }
  }
}

TEST_P(OracleTiers, FastTierGivesTheMpfrVerdict) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 256);
  const double ulps = kDefaultElementaryUlps;
  for (Format f : {Format::float32, Format::bfloat16}) {
    SCOPED_TRACE(format_name(f));
    const Arrays bounds = diff_bound(a, *problem, f, ulps, exact);
    std::vector<std::pair<std::string, Arrays>> answers;
    answers.emplace_back("rounded oracle", rounded(exact, f));
    Arrays scaled = rounded(exact, f), nan = rounded(exact, f), off = rounded(exact, f);
    for (auto& [name, t] : scaled)
      for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(1.5 * t[i], f);
    nan.begin()->second[0] = NAN;
    {
      auto& t = off.begin()->second;
      Index big = 0;
      for (Index i = 0; i < t.count(); ++i)
        if (std::fabs(t[i]) > std::fabs(t[big])) big = i;
      t[big] = round_to_format(t[big] * 1.01, f);
    }
    answers.emplace_back("times 1.5", scaled);
    answers.emplace_back("one NaN", nan);
    answers.emplace_back("largest 1% off", off);
    Index inside_undecidable = 0, outside_undecidable = 0;
    const auto [v64, r64] = float64_enclosure(a, *problem);
    if (!v64.empty()) {
      answers.emplace_back("a hair inside", at_edge(exact, bounds, v64, r64, f, -1e-12, &inside_undecidable));
      answers.emplace_back("a hair outside", at_edge(exact, bounds, v64, r64, f, 1e-12, &outside_undecidable));
    }
    for (const auto& [what, answer] : answers) {
      const DiffReport mpfr = judge_diff(a, *problem, answer, f, ulps, exact, bounds, false);
      DiffRequest q;
      q.format = f;
      q.elementary_ulps = ulps;
      const DiffReport fast = run_diff(a, *problem, answer, q);
      expect_same(fast, mpfr, what);
      if (fast.oracle == OracleTier::fast && what.rfind("a hair", 0) == 0) {
        const Index undecidable = what == "a hair inside" ? inside_undecidable : outside_undecidable;
        EXPECT_GE(fast.recomputed, undecidable) << what << ": the enclosure settled elements it cannot decide";
        escalated_total += fast.recomputed;
      }
    }
    // The MPFR tier, slice by slice where the entry declares slices, judges the same.
    DiffRequest q;
    q.format = f;
    q.elementary_ulps = ulps;
    q.oracle = OracleTier::mpfr;
    const Arrays out_edge = v64.empty() ? answers.back().second : at_edge(exact, bounds, v64, r64, f, 1e-12, &outside_undecidable);
    expect_same(run_diff(a, *problem, out_edge, q),
                judge_diff(a, *problem, out_edge, f, ulps, exact, bounds, false), "mpfr tier, a hair outside");
  }
}

// Only the entries that declare independent axes.
// Per entry that declares slices, its first default size with more than one slice (else its
// first), so that the declaration is checked across slices, not on a single one.
std::vector<Case> sliced_cases() {
  std::vector<Case> v;
  for (const Algorithm* a : builtin_registry().all()) {
    if (a->independent_axes().empty()) continue;
    Case c{a, a->sizes().front()};
    for (const auto& size : a->sizes()) {
      const auto problem = a->generate(size, Format::float32, 0);
      if (ProblemSlicer(*a, *problem).count() > 1) {
        c.size = size;
        break;
      }
    }
    v.push_back(c);
  }
  return v;
}

class SlicedOracle : public testing::TestWithParam<Case> {};

TEST_P(SlicedOracle, EqualsTheWholeOracle) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 0);
  const ProblemSlicer slicer(a, *problem);
  ASSERT_FALSE(slicer.whole()) << "the default problem should allow the declared slices";
  const ExactArrays exact = a.reference(*problem, 256);
  const WorkingPrecision wp(512);
  std::vector<Index> all;
  for (Index s = 0; s < slicer.count(); ++s) all.push_back(s);
  Index compared = 0;
  verified_slices(a, slicer, all, 256, [&](Index s, const ExactArrays& part) {
    for (const auto& [name, t] : part) {
      const auto& whole = exact.at(name);
      for (Index j = 0; j < t.count(); ++j) {
        const Index i = slicer.global_index(name, whole.shape(), s, j);
        ASSERT_EQ(slicer.locate(name, whole.shape(), i).slice, s);
        ASSERT_EQ(slicer.locate(name, whole.shape(), i).local, j);
        const mp_real& x = whole[i];
        const mp_real& y = t[j];
        if (isnan(x) || isnan(y)) {
          EXPECT_TRUE(isnan(x) && isnan(y)) << name << " " << i;
          continue;
        }
        const mp_real tol = ldexp(mp_real(1), -120) * std::max(mp_real(abs(x)), mp_real(ldexp(mp_real(1), -1000)));
        EXPECT_LE(abs(x - y), tol) << name << " element " << i << " of slice " << s;
        ++compared;
      }
    }
  });
  Index total = 0;
  for (const auto& [name, t] : exact) total += t.count();
  EXPECT_EQ(compared, total) << "every element belongs to exactly one slice";
}

// The enclosure is not allowed to settle everything: over every entry, answers at the bound's edge
// must have sent elements to MPFR (on the scan alone, dozens).
TEST(OracleTiersSummary, EscalationRan) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan");
  const auto problem = a.generate(a.sizes().back(), Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 256);
  const Arrays bounds = diff_bound(a, *problem, Format::float32, kDefaultElementaryUlps, exact);
  const auto [v64, r64] = float64_enclosure(a, *problem);
  Index undecidable = 0;
  const Arrays edge = at_edge(exact, bounds, v64, r64, Format::float32, 1e-12, &undecidable);
  EXPECT_GT(undecidable, 0);
  DiffRequest q;
  const DiffReport fast = run_diff(a, *problem, edge, q);
  EXPECT_GE(fast.recomputed, undecidable);
  EXPECT_GT(fast.slices_recomputed, 0);
  EXPECT_LT(fast.slices_recomputed, fast.slices) << "only the slices holding the edge elements";
  expect_same(fast, judge_diff(a, *problem, edge, Format::float32, kDefaultElementaryUlps, exact, bounds, false),
              "scan at the edge");
}

// [CORE-ORACLE-VERIFIED] on the slice path: `verified_slices` (the MPFR tier slice by slice, and
// the fast tier's escalation) checks each slice's oracle at b and 2b bits too. A wrapper of the
// scan whose oracle is off by 2^-(bits/4) relative below `exact_from` bits (and exact above) is
// corrected by doubling; one that is off at every precision is refused, naming the precision.
class UnderPreciseOracle : public Algorithm {
 public:
  UnderPreciseOracle(const Algorithm& a, unsigned exact_from) : a_(a), exact_from_(exact_from) {}
  std::string name() const override { return a_.name(); }
  std::string summary() const override { return a_.summary(); }
  std::string spec_ref() const override { return a_.spec_ref(); }
  std::vector<ArraySpec> inputs() const override { return a_.inputs(); }
  std::vector<ArraySpec> outputs() const override { return a_.outputs(); }
  std::vector<OptionSpec> options() const override { return a_.options(); }
  std::vector<std::string> sizes() const override { return a_.sizes(); }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format f, std::uint64_t seed) const override {
    return a_.generate(size, f, seed);
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    return a_.problem_from_arrays(arrays, options);
  }
  ExactArrays oracle(const ProblemHandle& p, unsigned bits) const override {
    ExactArrays r = a_.oracle(p, bits);
    if (bits < exact_from_)
      for (auto& entry : r)
        for (Index i = 0; i < entry.second.count(); ++i) {
          mp_real& x = entry.second[i];
          x = x + ldexp(abs(x) + 1, -static_cast<int>(bits / 4));
        }
    return r;
  }
  const std::vector<BackendSpec>& backends() const override { return a_.backends(); }
  Arrays any_order_bound(const ProblemHandle& p, Format f, double ulps) const override {
    return a_.any_order_bound(p, f, ulps);
  }
  std::vector<std::string> independent_axes() const override { return a_.independent_axes(); }

 private:
  const Algorithm& a_;
  unsigned exact_from_;
};

// covers: CORE-ORACLE-VERIFIED
TEST(SlicedOracleVerified, AnUnderPreciseOracleIsCaughtOnEverySlice) {
  const Algorithm& scan = builtin_registry().get("mamba.selective_scan");
  const auto problem = scan.generate(scan.sizes().front(), Format::float32, 0);
  const ExactArrays exact = scan.reference(*problem, 256);
  std::vector<Index> all;
  {
    const ProblemSlicer slicer(scan, *problem);
    ASSERT_FALSE(slicer.whole());
    for (Index s = 0; s < slicer.count(); ++s) all.push_back(s);
  }
  // Off by 2^-64 relative at 256 bits, exact from 512: every slice must come back from at least
  // 512 bits, within 2^-120 of the whole problem's verified oracle (the 256-bit answer is not).
  const UnderPreciseOracle late(scan, 512);
  const ProblemSlicer slicer(late, *problem);
  Index compared = 0, would_fail = 0;
  verified_slices(late, slicer, all, 256, [&](Index s, const ExactArrays& part) {
    const auto first = late.oracle(*slicer.slice(s), 256);
    const WorkingPrecision wp(512);
    for (const auto& [name, t] : part) {
      const auto& whole = exact.at(name);
      for (Index j = 0; j < t.count(); ++j) {
        const mp_real& x = whole[slicer.global_index(name, whole.shape(), s, j)];
        if (isnan(x)) continue;
        const mp_real tol = ldexp(mp_real(1), -120) * (abs(x) + 1);
        EXPECT_LE(abs(t[j] - x), tol) << name << " element " << j << " of slice " << s;
        would_fail += abs(first.at(name)[j] - x) > tol;
        ++compared;
      }
    }
  });
  EXPECT_GT(compared, 0);
  EXPECT_EQ(would_fail, compared) << "the unchecked 256-bit oracle is wrong everywhere";
  // Off at every precision: refused.
  const UnderPreciseOracle never(scan, ~0u);
  try {
    verified_slices(never, ProblemSlicer(never, *problem), all, 256, [](Index, const ExactArrays&) {});
    FAIL() << "an under-precise oracle was trusted on the slice path";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "precision");
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, OracleTiers, testing::ValuesIn(first_sizes()), case_name);
INSTANTIATE_TEST_SUITE_P(Registry, SlicedOracle, testing::ValuesIn(sliced_cases()), case_name);

}  // namespace
