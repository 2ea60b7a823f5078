// The probabilistic (Higham-Mary) tier of `diff`'s SUSPECT verdict ([CORE-DIFF-PROBABILISTIC],
// [MAMBA-SCAN-BOUND-PROBABILISTIC]):
// - lambda makes the union bound 2 n exp(-lambda^2 (1-u)^2 / 2) equal alpha, and no smaller lambda
//   does;
// - the aggregate form hm_sum_bound(M, R1) covers the per-term sum of Higham and Mary's
//   gamma~_k(lambda) on random term sets, and a form without its Cauchy-Schwarz step does not;
// - on every entry that has one, the probabilistic bound is never above the rigorous any-order
//   bound, and below it on a long scan;
// - touchstone's own CPU backends (correct kernels in their own order) are never beyond it, in
//   either oracle tier;
// - one element moved beyond it (inside the rigorous bound) is SUSPECT, in both tiers, with the
//   element named; moved to half of it, not.
// covers: CORE-DIFF-PROBABILISTIC MAMBA-SCAN-BOUND-PROBABILISTIC
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "builtin.hpp"
#include "touchstone/core/probabilistic.hpp"
#include "touchstone/core/report.hpp"
#include "touchstone/core/verdict.hpp"

using namespace touchstone;

namespace {

constexpr double kU32 = 0x1p-24;

// Higham and Mary's gamma~_k(lambda), Theorem 2.4.
double gamma_tilde(double k, double lambda, double u) {
  return std::expm1(lambda * std::sqrt(k) * u + k * u * u / (1 - u));
}

TEST(HighamMary, LambdaMakesTheUnionBoundAlpha) {
  for (double n : {1.0, 1e3, 3.4e11}) {
    for (double alpha : {1e-3, 1e-6}) {
      const double lambda = hm_lambda(n, alpha, kU32);
      auto failure = [&](double l) { return 2 * n * std::exp(-l * l * (1 - kU32) * (1 - kU32) / 2); };
      EXPECT_LE(failure(lambda), alpha) << n << " " << alpha;
      EXPECT_GT(failure(lambda * (1 - 1e-6)), alpha * (1 - 1e-4)) << "lambda is not the smallest: " << n;
    }
  }
}

TEST(HighamMary, AggregateCoversEveryTermwiseSum) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mag(0, 1);
  std::uniform_int_distribution<int> count(1, 5000);
  const double lambda = 9;
  int beaten_without_cauchy_schwarz = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const int terms = 1 + trial % 50;
    double M = 0, R1 = 0, termwise = 0, k_max = 0, sqrt_free = 0;
    for (int j = 0; j < terms; ++j) {
      const double x = mag(rng) * std::pow(10.0, static_cast<double>(trial % 7) - 3);
      const double k = count(rng);
      M += x;
      R1 += kU32 * x * k;
      termwise += x * gamma_tilde(k, lambda, kU32);
      k_max = std::max(k_max, k);
      sqrt_free += lambda * kU32 * x * std::sqrt(k);
    }
    EXPECT_GE(hm_sum_bound(M, R1, kU32, lambda, k_max), termwise) << trial;
    // The wrong aggregate lambda u M sqrt(R1 / (u M)) / terms (a mean in place of Cauchy-Schwarz)
    // falls below the per-term sum: the test can tell a wrong aggregate.
    if (lambda * std::sqrt(kU32 * M * R1) / terms < sqrt_free) ++beaten_without_cauchy_schwarz;
  }
  EXPECT_GT(beaten_without_cauchy_schwarz, 1000);
  EXPECT_EQ(hm_sum_bound(1, 0, kU32, lambda, 10), 0.0);
}

const BackendSpec* backend_named(const Algorithm& a, const std::string& name) {
  for (const auto& b : a.backends())
    if (b.name == name) return &b;
  return nullptr;
}

std::vector<const Algorithm*> with_probabilistic_bound() {
  std::vector<const Algorithm*> v;
  for (const Algorithm* a : builtin_registry().all()) {
    const auto p = a->generate(a->sizes().front(), Format::float32, 0);
    if (a->probabilistic_bound(*p, Format::float32, kDefaultElementaryUlps, kProbabilisticAlpha)) v.push_back(a);
  }
  return v;
}

TEST(ProbabilisticTier, TheScanHasOne) {
  bool scan = false;
  for (const Algorithm* a : with_probabilistic_bound()) scan = scan || a->name() == "mamba.selective_scan";
  EXPECT_TRUE(scan);
}

TEST(ProbabilisticTier, NeverAboveTheRigorousBoundAndBelowItOnALongScan) {
  for (const Algorithm* a : with_probabilistic_bound())
    for (const auto& size : a->sizes())
      for (Format f : {Format::float32, Format::float64}) {
        const auto p = a->generate(size, f, 0);
        const Arrays rigorous = a->any_order_bound(*p, f, kDefaultElementaryUlps);
        const auto pb = a->probabilistic_bound(*p, f, kDefaultElementaryUlps, kProbabilisticAlpha);
        ASSERT_TRUE(pb);
        EXPECT_GT(pb->lambda, 5);
        // Where the entry hands `diff` the rigorous bound from the same evaluation, it is the
        // any-order bound, bit for bit (`diff` then does not evaluate that again).
        for (const auto& [name, rb] : pb->rigorous) {
          const Tensor<double>& r = rigorous.at(name);
          ASSERT_EQ(rb.shape(), r.shape());
          for (Index i = 0; i < r.count(); ++i)
            EXPECT_TRUE(std::memcmp(&rb[i], &r[i], sizeof(double)) == 0) << a->name() << " " << size << " " << name << " " << i;
        }
        Index below = 0, finite = 0;
        for (const auto& [name, b] : pb->bound) {
          const Tensor<double>& r = rigorous.at(name);
          ASSERT_EQ(b.shape(), r.shape());
          for (Index i = 0; i < b.count(); ++i) {
            if (std::isnan(r[i])) continue;
            EXPECT_LE(b[i], r[i]) << a->name() << " " << size << " " << name << " " << i;
            EXPECT_GE(b[i], 0);
            finite += std::isfinite(r[i]);
            below += b[i] < r[i];
          }
        }
        // L = 2048: every term's path is up to L + 1 roundings long in any order, where the
        // probabilistic bound gains about sqrt(L) / lambda.
        std::vector<double> ratios;
        for (const auto& [name, b] : pb->bound)
          for (Index i = 0; i < b.count(); ++i)
            if (std::isfinite(rigorous.at(name)[i]) && rigorous.at(name)[i] > 0) ratios.push_back(b[i] / rigorous.at(name)[i]);
        if (!ratios.empty()) {
          std::sort(ratios.begin(), ratios.end());
          std::printf("%s %s %s: probabilistic / rigorous bound: min %.3g, median %.3g, max %.3g (lambda %.2f)\n",
                      a->name().c_str(), size.c_str(), format_name(f).data(), ratios.front(),
                      ratios[ratios.size() / 2], ratios.back(), pb->lambda);
        }
        if (a->name() == "mamba.selective_scan" && size == "long")
          EXPECT_EQ(below, finite) << (f == Format::float32 ? "float32" : "float64");
      }
}

TEST(ProbabilisticTier, OwnCpuBackendsAreNeverBeyondItInEitherTier) {
  for (const Algorithm* a : with_probabilistic_bound())
    for (const auto& size : a->sizes())
      for (const char* backend : {"cpu-f32", "cpu-f64"}) {
        const BackendSpec* b = backend_named(*a, backend);
        if (!b) continue;
        const auto p = a->generate(size, b->format, 0);
        const Arrays own = b->run(*p);
        for (OracleTier tier : {OracleTier::fast, OracleTier::mpfr}) {
          DiffRequest q;
          q.format = b->format;
          q.oracle = tier;
          const DiffReport r = run_diff(*a, *p, own, q);
          EXPECT_EQ(r.verdict, Verdict::pass);
          for (const auto& s : r.suspicions) {
            EXPECT_TRUE(s.probabilistic_available) << s.output;
            EXPECT_FALSE(s.probabilistic) << a->name() << " " << size << " " << backend << " " << s.output
                                          << ": " << s.beyond_probabilistic << " beyond, largest ratio "
                                          << s.max_over_probabilistic;
            EXPECT_LT(s.max_over_probabilistic, 1);
            if (tier == OracleTier::fast)
              std::printf("%s %s %s %s: largest error / probabilistic bound %.3g\n", a->name().c_str(), size.c_str(),
                          backend, s.output.c_str(), s.max_over_probabilistic);
          }
        }
      }
}

TEST(ProbabilisticTier, OneElementBeyondItIsSuspectInBothTiers) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan");
  const auto p = a.generate("long", Format::float32, 0);
  const ExactArrays exact = a.reference(*p, 256);
  const BackendSpec* f32 = backend_named(a, "cpu-f32");
  ASSERT_NE(f32, nullptr);
  const Arrays own = f32->run(*p);
  const Arrays rigorous = a.any_order_bound(*p, Format::float32, kDefaultElementaryUlps);
  const auto pb = a.probabilistic_bound(*p, Format::float32, kDefaultElementaryUlps, kProbabilisticAlpha);
  ASSERT_TRUE(pb);
  const Tensor<double>& bp = pb->bound.at("out");
  const Tensor<double>& br = rigorous.at("out");
  // The last step of the first channel: the longest paths, where the two bounds differ most.
  const Index k = exact.at("out").shape()[2] - 1;
  ASSERT_LT(2.5 * bp[k], br[k]) << "the move must stay inside the rigorous bound for the test to mean anything";
  auto moved = [&](double factor, OracleTier tier) {
    Arrays m = own;
    const double x = to_double(exact.at("out")[k]);
    m.at("out")[k] = round_to_format(x + factor * bp[k], Format::float32);
    EXPECT_GT(std::fabs(m.at("out")[k] - x), (factor > 1 ? 1.01 : 0.0) * bp[k]);
    DiffRequest q;
    q.oracle = tier;
    return run_diff(a, *p, m, q);
  };
  for (OracleTier tier : {OracleTier::fast, OracleTier::mpfr}) {
    const DiffReport far = moved(2, tier);
    EXPECT_EQ(far.verdict, Verdict::pass);
    ASSERT_TRUE(far.suspect());
    const Suspicion& s = far.suspicions.front().output == "out" ? far.suspicions.front() : far.suspicions.back();
    ASSERT_EQ(s.output, "out");
    EXPECT_TRUE(s.probabilistic);
    EXPECT_EQ(s.beyond_probabilistic, 1);
    EXPECT_EQ(s.first_beyond, k);
    EXPECT_GT(s.max_over_probabilistic, 1.5);
    const std::string text = diff_text(far);
    EXPECT_NE(text.find("SUSPECT out: 1 element(s) beyond the probabilistic bound"), std::string::npos) << text;
    EXPECT_NE(text.find("verdict: PASS, SUSPECT"), std::string::npos);
    const auto json = diff_json(far);
    EXPECT_EQ(json["outputs"]["out"]["suspect"]["probabilistic"]["beyond"], 1);
    EXPECT_EQ(diff_exit_code(far, true), kExitSuspect);

    // (Half of it may still be far beyond touchstone's own error, SUSPECT by the baseline test:
    // only the probabilistic test is asked here.)
    const DiffReport near = moved(0.5, tier);
    EXPECT_EQ(near.verdict, Verdict::pass);
    for (const auto& sn : near.suspicions) EXPECT_FALSE(sn.probabilistic) << diff_text(near);
  }
  // With the tier turned off, the far move is not SUSPECT by it.
  Arrays m = own;
  m.at("out")[k] = round_to_format(to_double(exact.at("out")[k]) + 2 * bp[k], Format::float32);
  DiffRequest off;
  off.probabilistic_alpha = 0;
  const DiffReport r = run_diff(a, *p, m, off);
  for (const auto& s : r.suspicions) EXPECT_FALSE(s.probabilistic_available);
}

}  // namespace
