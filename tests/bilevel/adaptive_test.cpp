// bilevel.quadratic.ufom_adaptive (spec/bilevel.md [BILEVEL-UFOM-ADAPTIVE]): one step of adaptive
// UFOM as the authors' code adapts q. The oracle against an independent binary64 transcription of
// the rule (the counterexample demo's optimal_q_two), the regimes the checked sizes reach, the
// backends within their bounds, q unjudged where the rounded threshold comparison can flip, and
// wrong state updates that `diff` must FAIL (no bias correction, beta 0.9, q not clipped at q_min).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "../diff_verdict.hpp"
#include "builtin.hpp"
#include "cpu/bilevel.hpp"
#include "touchstone/bounds/bilevel_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/verdict.hpp"
#include "touchstone/reference/bilevel.hpp"

using namespace touchstone;
using namespace touchstone::bilevel;

namespace {

using A = AdaptiveUfomProblem<double>;

QuadraticProblem<double> make(Index d, Index r, double alpha, std::uint64_t seed) {
  PhiloxStream g(seed, "adaptive_test/G"), cs(seed, "adaptive_test/c"), ts(seed, "adaptive_test/theta");
  Tensor<double> G(Shape{d, d}), M(Shape{d, d}), c(Shape{d}), theta(Shape{d});
  for (Index i = 0; i < G.count(); ++i) G[i] = g.next_normal();
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k <= i; ++k) {
      double s = 0;
      for (Index l = 0; l < d; ++l) s += G(i, l) * G(k, l);
      M(i, k) = M(k, i) = round_to_format(s / static_cast<double>(d), Format::float32);
    }
  for (Index i = 0; i < d; ++i) {
    c[i] = round_to_format(cs.next_normal(), Format::float32);
    theta[i] = round_to_format(ts.next_normal(), Format::float32);
  }
  return QuadraticProblem<double>({M, c, theta, round_to_format(alpha, Format::float32), r});
}

A adaptive(const QuadraticProblem<double>& p, double q, int xi, double ema_v2, double ema_d2, Index n) {
  return A(UfomProblem<double>(p, q, xi), ema_v2, ema_d2, n);
}

// The rule transcribed independently in binary64 from the demo (apps/counterexample, which follows
// reptile.py): samples from the binary64 oracle's E and F, beta^(n+1) by std::pow, the threshold
// and root by reference::optimal_q_two. `beta`, `corrected` and `clip` select the wrong variants.
struct Rule {
  double q_next, q_raw, ema_v2, ema_d2, v2, d2;
};
Rule transcribed(const A& a, double beta = 0.99, bool corrected = true, bool clip = true) {
  const UfomProblem<double>& u = a.ufom();
  const Tensor<double> F = reference::fom<double>(u.quad()), E = reference::exact_hypergradient<double>(u.quad());
  double v2s = 0, d2s = 0;
  for (Index i = 0; i < E.count(); ++i) {
    const double g = F[i] + (E[i] - F[i]) / u.q();
    v2s += E[i] * E[i];
    d2s += (g - E[i]) * (g - E[i]);
  }
  Rule x;
  x.ema_v2 = beta * a.ema_v2() + (1 - beta) * v2s;
  x.ema_d2 = beta * a.ema_d2() + (1 - beta) * d2s;
  const double c = corrected ? 1 - std::pow(beta, static_cast<double>(a.exact_steps() + 1)) : 1.0;
  x.v2 = x.ema_v2 / c;
  x.d2 = x.ema_d2 / c;
  const double R = static_cast<double>(u.quad().steps());
  x.q_raw = reference::optimal_q_two(R + 1, R * (R - 1) / 2 + R, x.d2 / 10, x.v2);
  x.q_next = clip ? std::max(0.05, x.q_raw) : x.q_raw;
  return x;
}

double rel(double x, double y) { return std::fabs(x - y) / std::max(std::fabs(y), 1e-300); }

// The entry's problem of `size` (the generator the registry-wide tests use).
A generated(const std::string& size, std::uint64_t seed, Format format = Format::float32) {
  const Algorithm& alg = builtin_registry().get("bilevel.quadratic.ufom_adaptive");
  const auto h = alg.generate(size, format, seed);
  const Arrays in = h->inputs();
  auto at = [&](const char* n) { return in.at(n)[0]; };
  return adaptive(QuadraticProblem<double>({in.at("A"), in.at("c"), in.at("theta"), at("alpha"),
                                            static_cast<Index>(at("r"))}),
                  at("q"), static_cast<int>(at("xi")), at("ema_v2"), at("ema_d2"), static_cast<Index>(at("exact_steps")));
}

// covers: BILEVEL-UFOM-ADAPTIVE
TEST(BilevelAdaptive, OracleIsTheTranscribedRule) {
  const WorkingPrecision wp(256);
  int checked = 0;
  for (std::uint64_t seed = 0; seed < 6; ++seed)
    for (Index r : {1, 3, 5, 10})
      for (double q : {0.05, 0.25, 0.75}) {
        const A a = adaptive(make(4, r, 0.1, seed), q, 1, 0.5 * static_cast<double>(seed), 0.01 * seed, seed);
        const AdaptiveUfomResult<mp_real> o = reference::ufom_adaptive<mp_real>(a);
        const Rule t = transcribed(a);
        EXPECT_LT(rel(to_double(o.ema_v2_next), t.ema_v2), 1e-12);
        EXPECT_LT(rel(to_double(o.ema_d2_next), t.ema_d2), 1e-12);
        EXPECT_LT(rel(to_double(o.v2), t.v2), 1e-12);
        EXPECT_LT(rel(to_double(o.d2), t.d2), 1e-12);
        EXPECT_LT(rel(to_double(o.q_next), t.q_next), 1e-9) << "seed " << seed << " r " << r << " q " << q;
        // [BILEVEL-UFOM-ADAPTIVE] (1): the bias correction cancels in q (both EMAs share it).
        EXPECT_LT(rel(transcribed(a, 0.99, false).q_next, t.q_next), 1e-12);
        // The checker rejects a wrong rule: without the D2/10 heuristic q differs (unless both clip).
        const double no_tenth = std::max(0.05, reference::optimal_q_two(r + 1.0, r * (r - 1.0) / 2 + r, t.d2, t.v2));
        if (t.q_next > 0.05 && t.q_next < 1) {
          EXPECT_GT(rel(no_tenth, to_double(o.q_next)), 1e-6);
          ++checked;
        }
      }
  EXPECT_GT(checked, 5);
  // xi = 0: the state passes through; v2, d2 are the inputs' corrected values (0 before any branch).
  const A a0 = adaptive(make(3, 4, 0.1, 9), 0.3, 0, 2.0, 0.5, 4);
  const AdaptiveUfomResult<mp_real> o0 = reference::ufom_adaptive<mp_real>(a0);
  EXPECT_EQ(to_double(o0.q_next), 0.3);
  EXPECT_EQ(to_double(o0.ema_v2_next), 2.0);
  EXPECT_LT(rel(to_double(o0.v2), 2.0 / (1 - std::pow(0.99, 4))), 1e-14);
  const AdaptiveUfomResult<mp_real> o00 = reference::ufom_adaptive<mp_real>(adaptive(make(3, 4, 0.1, 9), 0.3, 0, 0, 0, 0));
  EXPECT_EQ(to_double(o00.v2), 0.0);
}

// The checked sizes reach every branch of the rule: q_next = 1 by the threshold, an interior root,
// and the root below q_min clipped to 0.05; "coin0" passes the state through.
// covers: BILEVEL-UFOM-ADAPTIVE-CPU
TEST(BilevelAdaptive, SizesReachEveryRegime) {
  const WorkingPrecision wp(256);
  bool one = false, interior = false, clipped = false;
  for (const char* size : {"first", "later", "clipped", "medium"})
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      const A a = generated(size, seed);
      const Rule t = transcribed(a);
      const double q = to_double(reference::ufom_adaptive<mp_real>(a).q_next);
      one = one || q == 1;
      interior = interior || (q > 0.05 && q < 1);
      clipped = clipped || (t.q_raw < 0.05 && q == 0.05);
      if (std::string(size) == "clipped") {
        EXPECT_LT(t.q_raw, 0.05) << seed;
      }
    }
  EXPECT_TRUE(one);
  EXPECT_TRUE(interior);
  EXPECT_TRUE(clipped);
}

// The backends within their own bounds, every output, on both formats and every checked size.
// covers: BILEVEL-UFOM-ADAPTIVE-BOUND
TEST(BilevelAdaptive, BackendsWithinBound) {
  const WorkingPrecision wp(256);
  for (const char* size : {"first", "later", "coin0", "clipped", "medium"})
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      const A a = generated(size, seed);
      const AdaptiveUfomResult<mp_real> o = reference::ufom_adaptive<mp_real>(a);
      auto check = [&](const auto& got, const AdaptiveUfomBound& b, const char* fmt) {
        for (Index i = 0; i < o.grad.count(); ++i)
          EXPECT_LE(std::fabs(static_cast<double>(got.grad[i]) - to_double(o.grad[i])), b.grad[i]) << size << fmt;
        const double pairs[][3] = {{static_cast<double>(got.q_next), to_double(o.q_next), b.q_next},
                                   {static_cast<double>(got.ema_v2_next), to_double(o.ema_v2_next), b.ema_v2_next},
                                   {static_cast<double>(got.ema_d2_next), to_double(o.ema_d2_next), b.ema_d2_next},
                                   {static_cast<double>(got.v2), to_double(o.v2), b.v2},
                                   {static_cast<double>(got.d2), to_double(o.d2), b.d2}};
        for (const auto& p : pairs) {
          EXPECT_TRUE(std::isfinite(p[2])) << size << fmt;
          EXPECT_LE(std::fabs(p[0] - p[1]), p[2]) << size << fmt;
        }
      };
      check(cpu::ufom_adaptive(a.cast<float>()), ufom_adaptive_bound(a, bilevel_arithmetic_cpu(Format::float32)), " f32");
      check(cpu::ufom_adaptive(a), ufom_adaptive_bound(a, bilevel_arithmetic_cpu(Format::float64)), " f64");
    }
}

// Where D2/10 sits on the threshold (ema_d2 chosen so, then rounded to float32), the float32
// comparison can go either way: q_next's bound is +inf (unjudged), the other outputs stay judged.
// A state far from the threshold is judged (the same problem, ema_d2 = 0).
// covers: BILEVEL-UFOM-ADAPTIVE-BOUND
TEST(BilevelAdaptive, ThresholdFlipIsUnjudged) {
  const QuadraticProblem<double> p = make(4, 5, 0.1, 77);
  const double q = 0.5, n = 2, beta = 0.99;
  const Tensor<double> F = reference::fom<double>(p), E = reference::exact_hypergradient<double>(p);
  double v2s = 0, d2s = 0;
  for (Index i = 0; i < E.count(); ++i) {
    v2s += E[i] * E[i];
    d2s += (F[i] + (E[i] - F[i]) / q - E[i]) * (F[i] + (E[i] - F[i]) / q - E[i]);
  }
  const double ema_v2 = 1.0, c = 1 - std::pow(beta, n + 1), R = 5;
  const double v2 = (beta * ema_v2 + (1 - beta) * v2s) / c;
  const double threshold = 0.5 * (R * (R - 1) / 2 + R) * v2 / (R + 1 + R * (R - 1) / 2 + R);
  const double ema_d2 = round_to_format((10 * threshold * c - (1 - beta) * d2s) / beta, Format::float32);
  ASSERT_GT(ema_d2, 0);
  const A on = adaptive(p, q, 1, ema_v2, ema_d2, static_cast<Index>(n));
  const AdaptiveUfomBound b = ufom_adaptive_bound(on, bilevel_arithmetic_cpu(Format::float32));
  EXPECT_EQ(b.q_next, INFINITY);
  EXPECT_TRUE(std::isfinite(b.ema_d2_next) && std::isfinite(b.v2) && std::isfinite(b.grad[0]));
  const AdaptiveUfomBound far = ufom_adaptive_bound(adaptive(p, q, 1, ema_v2, 0.0, 2), bilevel_arithmetic_cpu(Format::float32));
  EXPECT_TRUE(std::isfinite(far.q_next));
}

// diff PASSes the backends' answers and FAILs a wrong state update, one per output: no bias
// correction (v2, d2 = the raw EMAs), beta = 0.9 (the EMAs), q not clipped at q_min (q_next).
// covers: BILEVEL-UFOM-ADAPTIVE
TEST(BilevelAdaptive, WrongStateUpdatesFail) {
  const Algorithm& alg = builtin_registry().get("bilevel.quadratic.ufom_adaptive");
  auto verdict = [&](const std::string& size, std::uint64_t seed, const Arrays& theirs) {
    const auto h = alg.generate(size, Format::float32, seed);
    return test_support::diff_verdict(alg, *h, theirs);
  };
  // `state` = (q_next, ema_v2_next, ema_d2_next, v2, d2).
  auto answer = [](const AdaptiveUfomResult<float>& x) {
    return Arrays{{"grad", as_double(x.grad)},
                  {"state", Tensor<double>(Shape{5}, std::vector<double>{x.q_next, x.ema_v2_next, x.ema_d2_next, x.v2,
                                                                         x.d2})}};
  };
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    for (const char* size : {"first", "later", "coin0", "clipped"}) {
      const A a = generated(size, seed);
      EXPECT_EQ(verdict(size, seed, answer(cpu::ufom_adaptive(a.cast<float>()))), Verdict::pass) << size;
    }
    {  // no bias correction: V2 and D2 reported (and used) as the raw EMAs
      const A a = generated("later", seed);
      Arrays t = answer(cpu::ufom_adaptive(a.cast<float>()));
      const Rule w = transcribed(a, 0.99, false);
      t["state"][3] = w.v2;
      t["state"][4] = w.d2;
      EXPECT_EQ(verdict("later", seed, t), Verdict::fail) << "no bias correction";
    }
    {  // beta 0.9
      const A a = generated("later", seed);
      Arrays t = answer(cpu::ufom_adaptive(a.cast<float>()));
      const Rule w = transcribed(a, 0.9);
      t["state"][1] = w.ema_v2;
      t["state"][2] = w.ema_d2;
      EXPECT_EQ(verdict("later", seed, t), Verdict::fail) << "beta 0.9";
    }
    {  // q not clipped at q_min
      const A a = generated("clipped", seed);
      Arrays t = answer(cpu::ufom_adaptive(a.cast<float>()));
      const Rule w = transcribed(a, 0.99, true, false);
      ASSERT_LT(w.q_next, 0.05);
      t["state"][0] = w.q_next;
      EXPECT_EQ(verdict("clipped", seed, t), Verdict::fail) << "not clipped";
    }
    {  // a NaN q is never a pass
      const A a = generated("first", seed);
      Arrays t = answer(cpu::ufom_adaptive(a.cast<float>()));
      t["state"][0] = NAN;
      EXPECT_NE(verdict("first", seed, t), Verdict::pass);
    }
  }
}

// Bad state: a clear InvalidInput naming the argument.
TEST(BilevelAdaptive, BadStateIsInvalidInput) {
  const QuadraticProblem<double> p = make(2, 1, 0.1, 1);
  auto names = [&](auto&& f) {
    try {
      f();
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(names([&] { adaptive(p, 0.5, 1, -1.0, 0.0, 0); }).find("ema_v2"), std::string::npos);
  EXPECT_NE(names([&] { adaptive(p, 0.5, 1, 0.0, NAN, 0); }).find("ema_d2"), std::string::npos);
  EXPECT_NE(names([&] { adaptive(p, 0.5, 1, 0.0, 0.0, -1); }).find("exact_steps"), std::string::npos);
  EXPECT_NE(names([&] { adaptive(p, 0.0, 1, 0.0, 0.0, 0); }).find("q"), std::string::npos);
}

}  // namespace
