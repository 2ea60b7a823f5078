// covers: CORE-REGISTRY
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "builtin.hpp"
#include "touchstone/core/errors.hpp"

using namespace touchstone;

TEST(Registry, FindsAlgorithmsByDottedName) {
  const Registry& r = builtin_registry();
  const Algorithm& a = r.get("mamba.selective_scan");
  EXPECT_EQ(a.name(), "mamba.selective_scan");
  std::vector<std::string> names;
  for (const auto& b : a.backends()) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cpu-f32", "cpu-f64", "cuda-f32"}));
  EXPECT_EQ(r.backend(a, "cpu-f64").format, Format::float64);
}

TEST(Registry, UnknownNamesAreInvalidInputListingTheKnownOnes) {
  const Registry& r = builtin_registry();
  try {
    r.get("mamba.selective_scna");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "algorithm");
    EXPECT_NE(std::string(e.what()).find("mamba.selective_scan"), std::string::npos);
  }
  EXPECT_THROW(r.backend(r.get("mamba.selective_scan"), "gpu"), InvalidInput);
}

TEST(Registry, JudgeRejectsOutputsTheAlgorithmDoesNotHave) {
  const WorkingPrecision p(128);
  ExactArrays exact{{"out", Tensor<mp_real>(Shape{1})}};
  Arrays computed{{"outt", Tensor<double>(Shape{1})}};
  try {
    judge(computed, exact, nullptr, Format::float32);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "outt");
  }
}

TEST(Registry, EveryEntryGeneratesEveryDefaultSizeAndRoundTripsItsInputs) {
  for (const Algorithm* a : builtin_registry().all()) {
    for (const auto& size : a->sizes()) {
      const auto p = a->generate(size, Format::float32, 1);
      EXPECT_EQ(p->input_format() == Format::float64, false) << a->name() << " " << size;
      NpyMap arrays;
      for (const auto& [name, t] : p->inputs()) arrays[name] = NpyArray{NpyKind::floating, 4, t};
      const auto q = a->from_arrays(arrays, {});
      EXPECT_EQ(q->describe(), p->describe());
    }
  }
}

namespace {

// A one-output toy entry for the registry's own rules: out = x at any precision, or a
// cancellation-prone formula, or with a backend whose bound forgets its output.
class ToyProblem final : public ProblemHandle {
 public:
  std::string describe() const override { return "toy"; }
  Format input_format() const override { return Format::float32; }
  Arrays inputs() const override { return {}; }
};

class ToyEntry final : public Algorithm {
 public:
  enum class Oracle { exact, cancelling, never_converges, range_nan, range_zero, nan_input };
  explicit ToyEntry(Oracle o, bool bound_forgets_output = false) : oracle_(o) {
    backends_.push_back({"cpu-f64", Format::float64, "one rounding", [] { return std::string(); },
                         [](const ProblemHandle&) { return Arrays{{"out", Tensor<double>(Shape{1}, 0.75)}}; },
                         [bound_forgets_output](const ProblemHandle&) {
                           if (bound_forgets_output) return Arrays{};
                           return Arrays{{"out", Tensor<double>(Shape{1}, 1e-16)}};
                         }});
  }
  std::string name() const override { return "toy.entry"; }
  std::string summary() const override { return ""; }
  std::string spec_ref() const override { return ""; }
  std::vector<ArraySpec> inputs() const override { return {}; }
  std::vector<ArraySpec> outputs() const override { return {{"out", "(1)", "", false}}; }
  std::vector<OptionSpec> options() const override { return {}; }
  std::vector<std::string> sizes() const override { return {"one"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string&, Format, std::uint64_t) const override {
    return std::make_unique<ToyProblem>();
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap&, const OptionMap&) const override {
    return std::make_unique<ToyProblem>();
  }
  mutable std::vector<unsigned> calls;  // the precisions the oracle was evaluated at
  ExactArrays oracle(const ProblemHandle&, unsigned bits) const override {
    calls.push_back(bits);
    const WorkingPrecision wp(bits);
    Tensor<mp_real> out(Shape{1});
    switch (oracle_) {
      case Oracle::exact: out[0] = mp_real(0.75); break;
      case Oracle::cancelling: {
        // 0.75 computed as ((2^300 + 0.75) - 2^300): every precision under 303 bits loses it.
        const mp_real big = ldexp(mp_real(1), 300);
        out[0] = (big + mp_real(0.75)) - big;
        break;
      }
      case Oracle::range_nan: {
        // e^(2^40) leaves MPFR's exponent range (inf), and inf * 0 is NaN: the exact value,
        // e^(2^40) e^(-2^40) = 1, is a number the oracle cannot know.
        const mp_real x = ldexp(mp_real(1), 40);
        out[0] = exp(x) * exp(-x);
        break;
      }
      case Oracle::range_zero:
        // e^(-2^40) underflows to 0 (the exact value is within 2^(-2^30) of it): no NaN, trusted.
        out[0] = mp_real(0.75) + exp(-ldexp(mp_real(1), 40));
        break;
      case Oracle::nan_input:
        // NaN from a NaN input, no range exceeded: the oracle's NaN is the answer.
        out[0] = mp_real(std::numeric_limits<double>::quiet_NaN()) * 2;
        break;
      case Oracle::never_converges:
        // Deliberately under-precise at every precision: its error is 2^-(bits/4).
        out[0] = mp_real(0.75) + ldexp(mp_real(1), -static_cast<int>(bits / 4));
        break;
    }
    return {{"out", std::move(out)}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle&, Format, double) const override {
    return {{"out", Tensor<double>(Shape{1}, 1e-16)}};
  }

 private:
  Oracle oracle_;
  std::vector<BackendSpec> backends_;
};

}  // namespace

// covers: CORE-ORACLE-VERIFIED
TEST(Registry, EveryOracleCallIsCheckedAtTwiceItsPrecision) {
  const ToyProblem p;
  const ToyEntry good(ToyEntry::Oracle::exact);
  const ExactArrays e = good.reference(p, 256);
  EXPECT_EQ(good.calls, (std::vector<unsigned>{256, 512}));
  EXPECT_EQ(e.at("out")[0], mp_real(0.75));
  // An oracle that loses its answer to cancellation below 303 bits is caught: 256 bits gives 0,
  // 512 gives 0.75 (they disagree), 1024 agrees with 512 and is returned.
  const ToyEntry cancelling(ToyEntry::Oracle::cancelling);
  const ExactArrays c = cancelling.reference(p, 256);
  EXPECT_EQ(cancelling.calls, (std::vector<unsigned>{256, 512, 1024}));
  EXPECT_EQ(c.at("out")[0], mp_real(0.75));
  {  // what the unverified call would have answered
    const WorkingPrecision wp(256);
    EXPECT_EQ(cancelling.oracle(p, 256).at("out")[0], mp_real(0));
  }
  // An oracle whose error never falls faster than the check's tolerance is refused, naming the
  // precision, not trusted.
  const ToyEntry bad(ToyEntry::Oracle::never_converges);
  try {
    bad.reference(p, 256);
    FAIL() << "an under-precise oracle was trusted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "precision");
  }
}

// covers: CORE-ORACLE-RANGE
TEST(Registry, AnOracleNaNBornOfMpfrsExponentRangeIsRefused) {
  const ToyProblem p;
  try {
    ToyEntry(ToyEntry::Oracle::range_nan).reference(p, 128);
    FAIL() << "a NaN from an overflowed exponent range was trusted as the exact value";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "precision");
    EXPECT_NE(std::string(e.what()).find("exponent range"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ToyEntry(ToyEntry::Oracle::range_zero).reference(p, 128).at("out")[0], mp_real(0.75));
  EXPECT_TRUE(isnan(ToyEntry(ToyEntry::Oracle::nan_input).reference(p, 128).at("out")[0]));
}

// covers: CORE-ENTRY
// `touchstone bench`'s size "bench" is generated on request by the entries that have one, though
// `check` does not run it; an unknown size is InvalidInput("size").
TEST(Registry, TheBenchSizeIsGeneratedButNotChecked) {
  const Registry& r = builtin_registry();
  for (const char* name : {"mamba.selective_scan", "mamba.selective_scan_backward", "s4.cauchy", "s4d.kernel"}) {
    const Algorithm& a = r.get(name);
    const auto sizes = a.sizes();
    EXPECT_EQ(std::find(sizes.begin(), sizes.end(), "bench"), sizes.end()) << name;
    EXPECT_NO_THROW(a.generate("bench", Format::float32, 0)) << name;
    try {
      a.generate("benchh", Format::float32, 0);
      ADD_FAILURE() << name;
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.argument(), "size");
    }
  }
}

// covers: CORE-ENTRY
// The bench sizes added for issue 13's 50x table (bench/RESULTS.md, "Bench sizes for the entries
// without one"): generated on request, not among check's sizes.
TEST(Registry, TheMambaAndS4FamiliesBenchSizesAreGeneratedButNotChecked) {
  const Registry& r = builtin_registry();
  for (const char* name : {"mamba.block", "mamba.block_backward", "mamba.block_step", "mamba.selective_scan_complex",
                           "mamba.selective_scan_complex_backward", "dss.kernel_exp", "dss.kernel_exp_backward",
                           "dss.kernel_softmax", "s4.causal_conv", "s4.ssm_scan", "s4.ssm_kernel",
                           "s4d.kernel_backward"}) {
    const Algorithm& a = r.get(name);
    const auto sizes = a.sizes();
    EXPECT_EQ(std::find(sizes.begin(), sizes.end(), "bench"), sizes.end()) << name;
    EXPECT_NO_THROW(a.generate("bench", Format::float32, 0)) << name;
    EXPECT_THROW(a.generate("benchh", Format::float32, 0), InvalidInput) << name;
  }
}

// covers: CORE-REGISTRY-BOUNDS
TEST(Registry, ABoundThatOmitsAnOutputIsADefectNotAPass) {
  const ToyProblem p;
  const ToyEntry forgetful(ToyEntry::Oracle::exact, true);
  const ExactArrays e = forgetful.reference(p, 128);
  EXPECT_THROW(check_entry_outputs(forgetful, p, e), std::logic_error);
  const Arrays out = forgetful.backends()[0].run(p), bounds = forgetful.backends()[0].bound(p);
  EXPECT_THROW(judge(out, e, &bounds, Format::float64), std::logic_error);
  const ToyEntry complete(ToyEntry::Oracle::exact);
  EXPECT_NO_THROW(check_entry_outputs(complete, p, complete.reference(p, 128)));
}

namespace {
NpyMap arrays_of(const ProblemHandle& p) {
  NpyMap m;
  for (const auto& [name, t] : p.inputs()) m[name] = NpyArray{NpyKind::floating, 4, t};
  return m;
}
std::string argument_of(const Algorithm& a, const NpyMap& m, const OptionMap& o = {}) {
  try {
    a.from_arrays(m, o);
  } catch (const InvalidInput& e) {
    return e.argument() + " | " + e.what();
  }
  return "accepted";
}
}  // namespace

// covers: CORE-INPUT-CHECK
// Every array's dimensions are inferred together, so the array that disagrees is the one named.
TEST(InputCheck, AMisshapenArrayIsBlamedNotItsNeighbour) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan");
  const auto p = a.generate("small", Format::float32, 0);
  NpyMap m = arrays_of(*p);
  ASSERT_EQ(argument_of(a, m), "accepted");
  // u saved as (batch, seqlen, dim) instead of (batch, dim, seqlen): u is named, with dim's value
  // and the arrays it comes from.
  const auto& u = m.at("u").values;
  const Index batch = u.extent(0), dim = u.extent(1), seqlen = u.extent(2);
  ASSERT_NE(dim, seqlen);
  m["u"].values = Tensor<double>(Shape{batch, seqlen, dim}, u.values());
  const std::string got = argument_of(a, m);
  EXPECT_EQ(got.substr(0, 4), "u | ") << got;
  EXPECT_NE(got.find("dim = " + std::to_string(dim)), std::string::npos) << got;
  EXPECT_NE(got.find("from"), std::string::npos) << got;
  // A misshapen A is named A.
  m = arrays_of(*p);
  const auto& A = m.at("A").values;
  m["A"].values = Tensor<double>(Shape{A.extent(0) + 1, A.extent(1)});
  EXPECT_EQ(argument_of(a, m).substr(0, 4), "A | ");
}

// covers: CORE-INPUT-CHECK
TEST(InputCheck, NamesUnknownMissingAndMistypedArraysAndOptions) {
  const Algorithm& a = builtin_registry().get("s4.causal_conv");
  const auto p = a.generate("small", Format::float32, 0);
  NpyMap m = arrays_of(*p);
  ASSERT_EQ(argument_of(a, m), "accepted");
  NpyMap extra = m;
  extra["kk"] = m.at("k");
  EXPECT_EQ(argument_of(a, extra).substr(0, 5), "kk | ");
  NpyMap missing = m;
  missing.erase("k");
  EXPECT_NE(argument_of(a, missing).find("k | k: missing"), std::string::npos);
  NpyMap ints = m;
  ints["u"].kind = NpyKind::signed_int;
  EXPECT_NE(argument_of(a, ints).find("u: expected a float array"), std::string::npos);
  EXPECT_EQ(argument_of(a, m, {{"L", "3"}}).substr(0, 4), "L | ");
  // A kernel for another number of channels: k disagrees with u and D on H.
  NpyMap wrongH = m;
  const auto& k = m.at("k").values;
  wrongH["k"].values = Tensor<double>(Shape{k.extent(0) + 1, k.extent(1)});
  EXPECT_EQ(argument_of(a, wrongH).substr(0, 4), "k | ");
  // Complex layouts: a real (H, N) array where complex (H, N) is declared is named.
  const Algorithm& s4d = builtin_registry().get("s4d.kernel");
  NpyMap c = arrays_of(*s4d.generate("tiny", Format::float32, 0));
  ASSERT_EQ(argument_of(s4d, c).substr(0, 8), "accepted");
  const auto& A = c.at("A").values;
  c["A"].values = Tensor<double>(Shape{A.extent(0), A.extent(1)});  // the (re, im) axis dropped
  EXPECT_EQ(argument_of(s4d, c).substr(0, 4), "A | ");
}
