// The SUSPECT tier and per-output formats of `diff` ([CORE-DIFF-SUSPECT], [CORE-DIFF-FORMATS]):
// - no touchstone CPU backend (a correct kernel, in its own order) is ever SUSPECT, on every
//   registered entry's first default size;
// - the correctly rounded oracle scaled by 1 + 2^-20 (8 to 16 float32 ulps, far inside most
//   bounds) is SUSPECT on every output with enough elements, and never below that minimum;
// - the signed-bias statistic on synthetic errors: each of its three conditions is needed;
// - one element moved far beyond the baseline's error, inside the bound, is SUSPECT;
// - `--format` per output: parsed, judged in each output's own format, errors named.
// covers: CORE-DIFF-SUSPECT CORE-DIFF-FORMATS
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "registry_cases.hpp"
#include "touchstone/core/report.hpp"
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

Arrays scaled_rounded(const ExactArrays& exact, double factor, Format f) {
  Arrays out;
  for (const auto& [name, t] : exact) {
    Tensor<double> d(t.shape());
    for (Index i = 0; i < t.count(); ++i) d[i] = round_to_format(to_double(t[i]) * factor, f);
    out[name] = std::move(d);
  }
  return out;
}

// The elements the bias statistic counts: finite nonzero exact value, finite nonzero error.
Index bias_elements(const Tensor<double>& theirs, const Tensor<mp_real>& exact) {
  Index n = 0;
  for (Index i = 0; i < theirs.count(); ++i) {
    const double x = to_double(exact[i]), e = theirs[i] - x;
    n += std::isfinite(x) && x != 0 && std::isfinite(theirs[i]) && e != 0 && std::isfinite(e);
  }
  return n;
}

class SuspectTier : public testing::TestWithParam<Case> {};

TEST_P(SuspectTier, OwnCpuBackendsAreNeverSuspect) {
  const Algorithm& a = *GetParam().algorithm;
  for (Format f : {Format::float32, Format::float64}) {
    bool any = false;
    for (const auto& b : a.backends()) any = any || (b.format == f && b.name.rfind("cpu-", 0) == 0);
    if (!any) continue;
    const auto problem = a.generate(GetParam().size, f, 0);
    const ExactArrays exact = a.reference(*problem, 256);
    const Arrays bounds = diff_bound(a, *problem, f, kDefaultElementaryUlps, exact);
    for (const auto& b : a.backends()) {
      if (b.format != f || b.name.rfind("cpu-", 0) != 0) continue;
      const Arrays out = b.run(*problem);
      const DiffReport r = judge_diff(a, *problem, out, f, kDefaultElementaryUlps, exact, bounds, true);
      for (const auto& s : r.suspicions)
        EXPECT_FALSE(s.suspect()) << b.name << " " << s.output << ": bias " << s.bias_units << " u, agreement "
                                  << s.agreement << " of " << s.errors << ", over baseline " << s.over_baseline;
    }
  }
}

TEST_P(SuspectTier, ABiasOfTwoToTheMinus20IsSuspectWhereEnoughElementsShowIt) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 256);
  const Arrays bounds = diff_bound(a, *problem, Format::float32, kDefaultElementaryUlps, exact);
  const Arrays biased = scaled_rounded(exact, 1 + 0x1p-20, Format::float32);
  const DiffReport r = judge_diff(a, *problem, biased, Format::float32, kDefaultElementaryUlps, exact, bounds, false);
  ASSERT_EQ(r.suspicions.size(), exact.size());
  for (const auto& s : r.suspicions) {
    const Index n = bias_elements(biased.at(s.output), exact.at(s.output));
    EXPECT_EQ(s.errors, n) << s.output;
    if (n >= kSuspectMinErrors) {
      EXPECT_TRUE(s.bias) << s.output << ": bias " << s.bias_units << " u, agreement " << s.agreement << " of " << n;
      EXPECT_NEAR(s.bias_units, 16, 2) << s.output;  // 2^-20 = 16 unit roundoffs of float32
    } else {
      EXPECT_FALSE(s.bias) << s.output << ": only " << n << " errors";
    }
  }
  // The correctly rounded oracle itself is never SUSPECT.
  const DiffReport ok = judge_diff(a, *problem, scaled_rounded(exact, 1, Format::float32), Format::float32,
                                   kDefaultElementaryUlps, exact, bounds, false);
  EXPECT_FALSE(ok.suspect());
}

INSTANTIATE_TEST_SUITE_P(Registry, SuspectTier, testing::ValuesIn(first_sizes()), case_name);

// The per-entry test above flags only outputs with enough elements, which the first default sizes
// often lack: on three families' largest default sizes, the biased answer must be SUSPECT.
TEST(SuspectTierSummary, TheBiasIsSeenWhereThereAreEnoughElements) {
  for (const char* name : {"mamba.selective_scan", "s4.cauchy", "performer.linear_attention"}) {
    const Algorithm& a = builtin_registry().get(name);
    const auto problem = a.generate(a.sizes().back(), Format::float32, 0);
    const ExactArrays exact = a.reference(*problem, 256);
    const Arrays bounds = diff_bound(a, *problem, Format::float32, kDefaultElementaryUlps, exact);
    const DiffReport r = judge_diff(a, *problem, scaled_rounded(exact, 1 + 0x1p-20, Format::float32), Format::float32,
                                    kDefaultElementaryUlps, exact, bounds, false);
    EXPECT_TRUE(r.suspect()) << name << "\n" << diff_text(r);
  }
}

// ---- the statistic on synthetic errors ----

Suspicion synthetic(double bias_u, double noise_u, Index n, double agree_only = -1, unsigned seed = 1) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> x(0, 1), e(0, 1);
  const double u = 0x1p-24;
  BiasAccumulator acc;
  for (Index i = 0; i < n; ++i) {
    const double xi = x(g);
    double err = (bias_u + noise_u * e(g)) * u * xi;
    if (agree_only >= 0) {  // exactly this fraction of the errors along x, the rest against it
      const double mag = std::fabs(bias_u) * u * std::fabs(xi);
      err = (static_cast<double>(i) < agree_only * static_cast<double>(n) ? 1 : -3) * mag * (xi > 0 ? 1 : -1);
    }
    acc.add(xi + err, xi);
  }
  return acc.finish("out", Format::float32);
}

TEST(SuspectBias, SymmetricErrorsAreNotSuspect) {
  for (unsigned seed = 1; seed <= 20; ++seed) EXPECT_FALSE(synthetic(0, 20, 100000, -1, seed).bias) << seed;
}

TEST(SuspectBias, EachConditionIsNeeded) {
  // Large, consistent, enough: flagged.
  const Suspicion s = synthetic(16, 4, 10000);
  EXPECT_TRUE(s.bias);
  EXPECT_NEAR(s.bias_units, 16, 0.5);
  EXPECT_GT(s.agreement, 0.99);
  // Below 2u: not flagged, however consistent.
  EXPECT_FALSE(synthetic(1.5, 0.1, 10000).bias);
  EXPECT_TRUE(synthetic(2.5, 0.1, 10000).bias);
  // Too few errors.
  EXPECT_FALSE(synthetic(16, 0.1, kSuspectMinErrors - 1).bias);
  EXPECT_TRUE(synthetic(16, 0.1, kSuspectMinErrors).bias);
  // A large net bias whose direction only 70% of the errors share (30% small errors along x, 70%
  // three times larger against it): the agreement is below 3/4, so not flagged.
  const Suspicion split = synthetic(16, 0, 10000, 0.3);
  EXPECT_LT(split.agreement, kSuspectAgreement);
  EXPECT_GE(std::fabs(split.bias_units), kSuspectBiasUnits);
  EXPECT_FALSE(split.bias);
}

TEST(SuspectBias, NonFiniteAndZeroElementsAreLeftOut) {
  BiasAccumulator acc;
  for (int i = 0; i < 200; ++i) acc.add(1 + 0x1p-20, 1);
  acc.add(NAN, 1);
  acc.add(INFINITY, 1);
  acc.add(1, 0);
  acc.add(1, NAN);
  acc.add(1, 1);  // no error
  const Suspicion s = acc.finish("out", Format::float32);
  EXPECT_EQ(s.errors, 200);
  EXPECT_TRUE(s.bias);
}

TEST(SuspectExit, StrictTurnsASuspectPassIntoExit4Only) {
  DiffReport r;
  r.verdict = Verdict::pass;
  Suspicion s;
  s.bias = true;
  r.suspicions.push_back(s);
  EXPECT_EQ(diff_exit_code(r, false), kExitPass);
  EXPECT_EQ(diff_exit_code(r, true), kExitSuspect);
  r.verdict = Verdict::fail;
  EXPECT_EQ(diff_exit_code(r, true), kExitFail);
  r.verdict = Verdict::inconclusive;
  EXPECT_EQ(diff_exit_code(r, true), kExitInconclusive);
  r.verdict = Verdict::pass;
  r.suspicions[0].bias = false;
  EXPECT_EQ(diff_exit_code(r, true), kExitPass);
}

// ---- the baseline test, on the selective scan ----

TEST(SuspectBaseline, OneElementFarBeyondTouchstonesErrorInsideTheBound) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan");
  const auto problem = a.generate("small", Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 256);
  const Arrays bounds = diff_bound(a, *problem, Format::float32, kDefaultElementaryUlps, exact);
  const BackendSpec* f32 = nullptr;
  for (const auto& b : a.backends())
    if (b.name == "cpu-f32") f32 = &b;
  ASSERT_NE(f32, nullptr);
  const Arrays own = f32->run(*problem);
  const DiffReport base = judge_diff(a, *problem, own, Format::float32, kDefaultElementaryUlps, exact, bounds, true);
  const OutputJudgement* out = nullptr;
  for (const auto& j : base.outputs)
    if (j.output == "out") out = &j;
  ASSERT_NE(out, nullptr);
  const double base_err = out->summary.max_abs;
  ASSERT_GT(base_err, 0);
  // The element with the largest bound, moved to `factor` times the baseline's largest error.
  const Tensor<double>& b = bounds.at("out");
  Index k = 0;
  for (Index i = 0; i < b.count(); ++i)
    if (std::isfinite(b[i]) && b[i] > b[k]) k = i;
  auto moved = [&](double factor) {
    Arrays m = own;
    m.at("out")[k] = round_to_format(to_double(exact.at("out")[k]) + factor * base_err, Format::float32);
    return judge_diff(a, *problem, m, Format::float32, kDefaultElementaryUlps, exact, bounds, true);
  };
  ASSERT_LT(64 * base_err, b[k]) << "the move must stay inside the bound for this test to mean anything";
  const DiffReport far = moved(64);
  EXPECT_EQ(far.verdict, Verdict::pass);
  ASSERT_TRUE(far.suspect());
  EXPECT_TRUE(far.suspicions[0].baseline || far.suspicions[1].baseline);
  EXPECT_NE(diff_text(far).find("SUSPECT out"), std::string::npos) << diff_text(far);
  EXPECT_NE(diff_text(far).find("verdict: PASS, SUSPECT"), std::string::npos);
  const DiffReport near = moved(8);
  EXPECT_EQ(near.verdict, Verdict::pass);
  EXPECT_FALSE(near.suspect()) << diff_text(near);
}

// ---- per-output formats ----

TheirOutputs outputs_of(const Arrays& arrays, Format dtype) {
  TheirOutputs t;
  t.arrays = arrays;
  t.format = dtype;
  for (const auto& [name, x] : arrays) t.formats[name] = dtype;
  return t;
}

TEST(DiffFormats, ParsedPerOutputAndForAll) {
  const Arrays arrays{{"out", Tensor<double>(Shape{2})}, {"last_state", Tensor<double>(Shape{2})}};
  DiffRequest q;
  set_formats(q, "out=bfloat16,last_state=float32", outputs_of(arrays, Format::float32));
  EXPECT_EQ(q.format, Format::float32);
  ASSERT_EQ(q.output_formats.size(), 1u);
  EXPECT_EQ(q.output_formats.at("out"), Format::bfloat16);
  set_formats(q, "bfloat16", outputs_of(arrays, Format::float32));
  EXPECT_EQ(q.format, Format::bfloat16);
  EXPECT_TRUE(q.output_formats.empty());
  set_formats(q, "float16,last_state=float32", outputs_of(arrays, Format::float32));
  EXPECT_EQ(q.format, Format::float16);
  EXPECT_EQ(q.output_formats.at("last_state"), Format::float32);
  // Mixed dtypes and no --format: each its own.
  TheirOutputs mixed = outputs_of(arrays, Format::float32);
  mixed.format.reset();
  mixed.formats["last_state"] = Format::float64;
  set_formats(q, "", mixed);
  EXPECT_EQ(q.format, Format::float64);  // the first output by name, last_state
  EXPECT_EQ(q.output_formats.at("out"), Format::float32);
  for (const char* bad : {"out=bfloat17", "nope=float32", "out=float32,out=float16", "float32,float16", "out"}) {
    try {
      set_formats(q, bad, outputs_of(arrays, Format::float32));
      ADD_FAILURE() << bad << " accepted";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("--format"), std::string::npos) << e.what();
    }
  }
}

TEST(DiffFormats, EachOutputIsJudgedInItsOwnFormat) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan");
  const auto problem = a.generate(a.sizes().front(), Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 256);
  Arrays theirs = scaled_rounded(exact, 1, Format::float32);
  for (Index i = 0; i < theirs.at("out").count(); ++i)
    theirs.at("out")[i] = round_to_format(theirs.at("out")[i], Format::bfloat16);
  for (OracleTier tier : {OracleTier::fast, OracleTier::mpfr}) {
    DiffRequest q;
    q.oracle = tier;
    q.format = Format::float32;
    q.output_formats = {{"out", Format::bfloat16}};
    const DiffReport r = run_diff(a, *problem, theirs, q);
    EXPECT_EQ(r.verdict, Verdict::pass) << diff_text(r);
    EXPECT_EQ(r.format_of("out"), Format::bfloat16);
    EXPECT_EQ(r.format_of("last_state"), Format::float32);
    EXPECT_NE(diff_text(r).find("out as bfloat16"), std::string::npos) << diff_text(r);
    EXPECT_EQ(diff_json(r)["outputs"]["out"]["format"], "bfloat16");
    // The same arrays all judged as float32: out's bfloat16 rounding is far outside float32's
    // bound, and the report says that every value of out is a bfloat16 value.
    q.output_formats.clear();
    const DiffReport all32 = run_diff(a, *problem, theirs, q);
    EXPECT_EQ(all32.verdict, Verdict::fail);
    bool hint = false;
    for (const auto& n : all32.notes) hint = hint || n.find("--format out=bfloat16") != std::string::npos;
    EXPECT_TRUE(hint) << diff_text(all32);
  }
  // A last_state in float64 beside a float32 out: two compute formats, two baselines.
  Arrays mixed = scaled_rounded(exact, 1, Format::float32);
  mixed.at("last_state") = scaled_rounded(exact, 1, Format::float64).at("last_state");
  DiffRequest q;
  q.format = Format::float32;
  q.output_formats = {{"last_state", Format::float64}};
  const DiffReport r = run_diff(a, *problem, mixed, q);
  EXPECT_EQ(r.verdict, Verdict::pass) << diff_text(r);
  EXPECT_NE(r.baseline_backend.find("cpu-f32"), std::string::npos);
  EXPECT_NE(r.baseline_backend.find("cpu-f64"), std::string::npos);
  // 17 digits for the float64 output's worst values.
  EXPECT_NE(diff_text(r).find("last_state (float64)"), std::string::npos) << diff_text(r);
}

}  // namespace
