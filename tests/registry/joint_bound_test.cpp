// The any-order bound and cpu-f64's own bound from one evaluation ([CORE-DIFF-JOINT-BOUND]):
// - for every entry that provides Algorithm::any_order_and_cpu_f64_bound, on every default size,
//   each half is bit for bit what the separate calls return (any_order_bound at float32 and
//   float64, with two elementary-function budgets; the "cpu-f64" backend's bound);
// - the comparison itself catches a one-ulp difference in one element;
// - `diff`'s fast tier makes the joint call instead of the two separate ones when the entry has
//   it, the separate ones when it has none, when the joint call refuses the problem (InvalidInput)
//   and in the MPFR tier, and judges the same either way (a right and a wrong answer).
// covers: CORE-DIFF-JOINT-BOUND
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "registry_cases.hpp"
#include "touchstone/core/verdict.hpp"

using namespace touchstone;

namespace {

using testing_registry::Case;

// How many elements of `got` differ from `want` in their bits (a missing output or a shape that
// differs counts every element of `want`'s), each reported as a failure when `report` is set.
Index differing_bits(const Arrays& got, const Arrays& want, const std::string& what, bool report = true) {
  Index differ = 0;
  if (got.size() != want.size()) {
    if (report) ADD_FAILURE() << what << ": " << got.size() << " outputs, expected " << want.size();
    ++differ;
  }
  for (const auto& [name, w] : want) {
    auto g = got.find(name);
    if (g == got.end() || !(g->second.shape() == w.shape())) {
      if (report) ADD_FAILURE() << what << ": output " << name << " missing or of another shape";
      differ += w.count();
      continue;
    }
    for (Index i = 0; i < w.count(); ++i) {
      if (std::bit_cast<std::uint64_t>(g->second[i]) == std::bit_cast<std::uint64_t>(w[i])) continue;
      if (report && differ < 5)
        ADD_FAILURE() << what << ": " << name << "[" << i << "] = " << g->second[i] << ", separately " << w[i];
      ++differ;
    }
  }
  return differ;
}

const BackendSpec& cpu_f64(const Algorithm& a) {
  for (const auto& b : a.backends())
    if (b.name == "cpu-f64") return b;
  throw std::logic_error(a.name() + " gives a joint bound without a cpu-f64 backend");
}

std::vector<Case> joint_cases() {
  std::vector<Case> v;
  for (const Case& c : testing_registry::all_cases()) {
    const auto problem = c.algorithm->generate(c.size, Format::float32, 0);
    if (c.algorithm->any_order_and_cpu_f64_bound(*problem, Format::float32, kDefaultElementaryUlps)) v.push_back(c);
  }
  return v;
}

class JointBound : public testing::TestWithParam<Case> {};

TEST_P(JointBound, EachHalfIsTheSeparateCallBitForBit) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 0);
  const Arrays f64_bound = cpu_f64(a).bound(*problem);
  for (Format compute : {Format::float32, Format::float64})
    for (double ulps : {kDefaultElementaryUlps, 1.0}) {
      const std::string what = std::string(format_name(compute)) + ", " + std::to_string(ulps) + " ulps";
      const auto both = a.any_order_and_cpu_f64_bound(*problem, compute, ulps);
      ASSERT_TRUE(both) << what;
      EXPECT_EQ(differing_bits(both->any_order, a.any_order_bound(*problem, compute, ulps), "any-order, " + what), 0);
      EXPECT_EQ(differing_bits(both->cpu_f64, f64_bound, "cpu-f64, " + what), 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Registry, JointBound, testing::ValuesIn(joint_cases()), testing_registry::case_name);

// The entries this was made for give one (else the suite above could be empty, or leave them
// out, and pass).
TEST(JointBoundEntries, TheEntriesMadeForItGiveOne) {
  for (const char* name : {"s4.cauchy", "s4.cauchy_backward", "s4d.kernel", "s4d.kernel_backward", "dss.kernel_exp",
                           "dss.kernel_exp_backward"}) {
    const Algorithm& a = builtin_registry().get(name);
    const auto problem = a.generate(a.sizes().front(), Format::float32, 0);
    EXPECT_TRUE(a.any_order_and_cpu_f64_bound(*problem, Format::float32, kDefaultElementaryUlps)) << name;
  }
}

// The comparison is not vacuous: one element one ulp off, and one output missing, are caught.
TEST(JointBoundEntries, TheComparisonCatchesOneUlp) {
  const Algorithm& a = builtin_registry().get("s4.cauchy");
  const auto problem = a.generate("small", Format::float32, 0);
  const Arrays want = a.any_order_bound(*problem, Format::float32, kDefaultElementaryUlps);
  Arrays got = want;
  Tensor<double>& t = got.begin()->second;
  t[t.count() / 2] = std::nextafter(t[t.count() / 2], std::numeric_limits<double>::infinity());
  EXPECT_EQ(differing_bits(got, want, "one ulp", false), 1);
  EXPECT_EQ(differing_bits(Arrays{}, want, "none", false), 1 + t.count());
  EXPECT_EQ(differing_bits(want, want, "same", false), 0);
}

// An entry seen through a wrapper that counts the bound calls `diff` makes, its joint bound on,
// off (nullopt) or refusing the problem.
class CountingAlgorithm final : public Algorithm {
 public:
  enum class Joint { on, off, refuses };
  CountingAlgorithm(const Algorithm& inner, Joint joint) : inner_(inner), joint_(joint) {
    for (BackendSpec b : inner.backends()) {
      if (b.name == "cpu-f64")
        b.bound = [this, bound = b.bound](const ProblemHandle& p) {
          ++f64_bound_calls;
          return bound(p);
        };
      backends_.push_back(std::move(b));
    }
  }
  mutable int any_order_calls = 0, f64_bound_calls = 0, joint_calls = 0;

  std::string name() const override { return inner_.name(); }
  std::string summary() const override { return inner_.summary(); }
  std::string spec_ref() const override { return inner_.spec_ref(); }
  std::vector<ArraySpec> inputs() const override { return inner_.inputs(); }
  std::vector<ArraySpec> outputs() const override { return inner_.outputs(); }
  std::vector<OptionSpec> options() const override { return inner_.options(); }
  std::vector<std::string> sizes() const override { return inner_.sizes(); }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format, std::uint64_t seed) const override {
    return inner_.generate(size, format, seed);
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    return inner_.problem_from_arrays(arrays, options);
  }
  ExactArrays oracle(const ProblemHandle& p, unsigned bits) const override { return inner_.oracle(p, bits); }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& p, Format storage, double ulps) const override {
    ++any_order_calls;
    return inner_.any_order_bound(p, storage, ulps);
  }
  std::optional<AnyOrderAndCpuF64Bound> any_order_and_cpu_f64_bound(const ProblemHandle& p, Format compute,
                                                                    double ulps) const override {
    ++joint_calls;
    if (joint_ == Joint::refuses) throw InvalidInput("v", "refused by the test's wrapper");
    if (joint_ == Joint::off) return std::nullopt;
    return inner_.any_order_and_cpu_f64_bound(p, compute, ulps);
  }
  std::string any_order_assumption() const override { return inner_.any_order_assumption(); }
  std::vector<std::string> independent_axes() const override { return inner_.independent_axes(); }

 private:
  const Algorithm& inner_;
  Joint joint_;
  std::vector<BackendSpec> backends_;
};

void expect_same_judgement(const DiffReport& x, const DiffReport& y) {
  EXPECT_EQ(x.verdict, y.verdict);
  EXPECT_EQ(x.oracle, y.oracle);
  ASSERT_EQ(x.outputs.size(), y.outputs.size());
  for (std::size_t k = 0; k < x.outputs.size(); ++k) {
    const ErrorSummary &a = x.outputs[k].summary, &b = y.outputs[k].summary;
    EXPECT_EQ(a.within, b.within);
    EXPECT_EQ(a.outside, b.outside);
    EXPECT_EQ(a.unjudged, b.unjudged);
    EXPECT_EQ(a.enclosed, b.enclosed);
    EXPECT_EQ(a.worst, b.worst);
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.worst_bound), std::bit_cast<std::uint64_t>(b.worst_bound));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.error_uncertainty), std::bit_cast<std::uint64_t>(b.error_uncertainty));
  }
}

TEST(JointBoundInDiff, TheFastTierMakesTheJointCallAndJudgesTheSame) {
  const Algorithm& cauchy = builtin_registry().get("s4.cauchy");
  const auto problem = cauchy.generate("medium", Format::float32, 0);
  Arrays right;
  for (const auto& b : cauchy.backends())
    if (b.name == "cpu-f32") right = b.run(*problem);
  Arrays wrong = right;
  for (auto& [name, t] : wrong) t[t.count() / 3] *= 1.5;
  DiffRequest q;  // fast tier, float32
  for (const Arrays* theirs : {&right, &wrong}) {
    SCOPED_TRACE(theirs == &right ? "cpu-f32's answer" : "one element x1.5");
    CountingAlgorithm on(cauchy, CountingAlgorithm::Joint::on), off(cauchy, CountingAlgorithm::Joint::off),
        refuses(cauchy, CountingAlgorithm::Joint::refuses);
    const DiffReport r_on = run_diff(on, *problem, *theirs, q);
    const DiffReport r_off = run_diff(off, *problem, *theirs, q);
    const DiffReport r_refuses = run_diff(refuses, *problem, *theirs, q);
    EXPECT_EQ(r_on.oracle, OracleTier::fast);
    EXPECT_EQ(r_on.verdict, theirs == &right ? Verdict::pass : Verdict::fail);
    EXPECT_EQ(on.joint_calls, 1);
    EXPECT_EQ(on.any_order_calls, 0);
    EXPECT_EQ(on.f64_bound_calls, 0);
    for (const CountingAlgorithm* a : {&off, &refuses}) {
      EXPECT_EQ(a->joint_calls, 1);
      EXPECT_EQ(a->any_order_calls, 1);
      EXPECT_EQ(a->f64_bound_calls, 1);
    }
    expect_same_judgement(r_on, r_off);
    expect_same_judgement(r_on, r_refuses);
  }
  // The MPFR tier encloses nothing: the any-order bound alone.
  CountingAlgorithm on(cauchy, CountingAlgorithm::Joint::on);
  DiffRequest mpfr;
  mpfr.oracle = OracleTier::mpfr;
  EXPECT_EQ(run_diff(on, *problem, right, mpfr).verdict, Verdict::pass);
  EXPECT_EQ(on.joint_calls, 0);
  EXPECT_EQ(on.any_order_calls, 1);
  EXPECT_EQ(on.f64_bound_calls, 0);
}

}  // namespace
