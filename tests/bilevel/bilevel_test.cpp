// The bilevel family's own invariants (spec/bilevel.md): the oracle against the quadratic closed
// form and against the derivative of M, the FOM bias, UFOM's expectation and second moment by
// enumeration of the coin, the three exact methods against each other and their step counts, the
// bounds' growth with r, bad input, and wrong hypergradients that `diff` must FAIL. Every checker
// here is also fed a wrong answer and seen to reject it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../diff_verdict.hpp"
#include "../tightness.hpp"
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

using P = QuadraticProblem<double>;

// A symmetric A = G G^T / d (G standard normal), c and theta standard normal, every value a
// float32 (so that both backends run on the same problem).
// a_scale < 0 makes A negative semi-definite; shift > 0 subtracts shift I (indefinite A).
P make(Index d, Index r, double alpha, std::uint64_t seed, double a_scale = 1.0, double shift = 0.0) {
  PhiloxStream g(seed, "bilevel_test/G"), cs(seed, "bilevel_test/c"), ts(seed, "bilevel_test/theta");
  Tensor<double> G(Shape{d, d}), A(Shape{d, d}), c(Shape{d}), theta(Shape{d});
  for (Index i = 0; i < G.count(); ++i) G[i] = g.next_normal();
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k <= i; ++k) {
      double s = 0;
      for (Index l = 0; l < d; ++l) s += G(i, l) * G(k, l);
      A(i, k) = A(k, i) = round_to_format(a_scale * s / static_cast<double>(d) - (i == k ? shift : 0.0), Format::float32);
    }
  for (Index i = 0; i < d; ++i) {
    c[i] = round_to_format(cs.next_normal(), Format::float32);
    theta[i] = round_to_format(ts.next_normal(), Format::float32);
  }
  return P({A, c, theta, round_to_format(alpha, Format::float32), r});
}

P with_steps(const P& p, Index r) { return P({p.in().A, p.in().c, p.in().theta, p.in().alpha, r}); }
P with_alpha(const P& p, double alpha) { return P({p.in().A, p.in().c, p.in().theta, alpha, p.steps()}); }

// max_i |x_i - y_i| / max_i |y_i| (0 when y is 0 and x equals it), at the working precision.
double relative_difference(const Tensor<mp_real>& x, const Tensor<mp_real>& y) {
  mp_real diff(0), scale(0);
  for (Index i = 0; i < x.count(); ++i) {
    diff = std::max(diff, mp_real(abs(x[i] - y[i])));
    scale = std::max(scale, mp_real(abs(y[i])));
  }
  if (scale == 0) return diff == 0 ? 0.0 : INFINITY;
  return to_double(diff / scale);
}

// Agreement at 256 bits: to 2^-200 relative (the sequences are at most a few thousand roundings).
constexpr double kAgree = 0x1p-200;

std::vector<P> oracle_problems() {
  std::vector<P> v;
  std::uint64_t seed = 0;
  for (Index d : {1, 2, 3, 5, 8})
    for (Index r : {0, 1, 2, 7, 10}) v.push_back(make(d, r, 0.1, seed++));
  v.push_back(make(4, 6, -0.3, seed++));            // a negative step (ascent) is still an inner loop
  v.push_back(make(4, 6, 0.9, seed++));             // alpha lambda_max > 2: the loop diverges
  v.push_back(make(5, 8, 0.1, seed++, -1.0));       // A negative semi-definite
  v.push_back(make(6, 9, 0.1, seed++, 1.0, 1.0));   // A indefinite
  return v;
}

// ---------------------------------------------------------------------------------------------
// covers: BILEVEL-QUAD-CLOSED BILEVEL-INNER-DEF
TEST(BilevelOracle, UnrolledLoopEqualsTheClosedForm) {
  const WorkingPrecision wp(256);
  for (const P& p : oracle_problems()) {
    const auto cf = reference::closed_form<mp_real>(p);
    EXPECT_LE(relative_difference(reference::exact_hypergradient<mp_real>(p), cf.E), kAgree);
    EXPECT_LE(relative_difference(reference::fom<mp_real>(p), cf.F), kAgree);
    // The checker rejects a wrong closed form: one step more in the matrix power.
    if (p.steps() > 0 && p.dim() > 1) {
      const auto off = reference::closed_form<mp_real>(with_steps(p, p.steps() + 1));
      EXPECT_GT(relative_difference(reference::exact_hypergradient<mp_real>(p), off.E), 1e-6);
    }
  }
}

// The scalar toy of brief section 2.1 in its quadratic region, from the closed form: two tasks
// a = (0.5, 1.5), c = (0, b2/1.5), alpha = 0.1, r = 10; s_i = (1 - alpha a_i)^r; the mean FOM's
// root theta_bar = 5.758867 has M'(theta_bar) = sqrt(0.12) = 0.346410, and the stationary point
// theta* = 2.840282 has mean FOM -0.8678 (the brief's [D] values, derived independently there).
// covers: BILEVEL-QUAD-CLOSED
TEST(BilevelOracle, TheToyConstantsOfTheBrief) {
  const WorkingPrecision wp(256);
  const double a[2] = {0.5, 1.5}, b2 = 17.395270;
  const double c[2] = {0.0, b2 / 1.5};
  auto task = [&](int i, double theta) {
    return P({Tensor<double>(Shape{1, 1}, a[i]), Tensor<double>(Shape{1}, c[i]), Tensor<double>(Shape{1}, theta), 0.1, 10});
  };
  EXPECT_NEAR(to_double(reference::closed_form<mp_real>(task(0, 0)).P[0]), 0.598737, 5e-7);
  EXPECT_NEAR(to_double(reference::closed_form<mp_real>(task(1, 0)).P[0]), 0.196874, 5e-7);
  auto mean = [&](double theta, bool exact) {
    double m = 0;
    for (int i = 0; i < 2; ++i)
      m += 0.5 * to_double((exact ? reference::exact_hypergradient<mp_real>(task(i, theta))
                                  : reference::fom<mp_real>(task(i, theta)))[0]);
    return m;
  };
  EXPECT_NEAR(mean(5.758867, true), std::sqrt(0.12), 2e-6);
  EXPECT_NEAR(mean(5.758867, false), 0.0, 2e-6);
  EXPECT_NEAR(mean(2.840282, true), 0.0, 2e-6);
  EXPECT_NEAR(mean(2.840282, false), -0.8678, 1e-4);
}

// M is a quadratic in theta, so the central difference (M(theta + h e_t) - M(theta - h e_t)) / 2h
// is its derivative exactly: an independent check of the reverse-mode oracle.
// covers: BILEVEL-EXACT-DEF BILEVEL-QUAD-DEF
TEST(BilevelOracle, ExactIsTheDerivativeOfM) {
  const WorkingPrecision wp(256);
  const double h = 0x1p-6;  // theta +- h is exact: theta is a float32 of magnitude < 2^10
  for (const P& p : oracle_problems()) {
    const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p);
    Tensor<mp_real> fd(Shape{p.dim()});
    for (Index t = 0; t < p.dim(); ++t) {
      Tensor<double> plus = p.in().theta, minus = p.in().theta;
      plus[t] += h;
      minus[t] -= h;
      const mp_real mp = reference::outer_loss<mp_real>(P({p.in().A, p.in().c, plus, p.in().alpha, p.steps()}));
      const mp_real mm = reference::outer_loss<mp_real>(P({p.in().A, p.in().c, minus, p.in().alpha, p.steps()}));
      fd[t] = (mp - mm) / mp_real(2 * h);
    }
    EXPECT_LE(relative_difference(E, fd), kAgree);
    // Rejects a hypergradient with one step dropped.
    if (p.steps() > 0) {
      EXPECT_GT(relative_difference(reference::exact_hypergradient<mp_real>(with_steps(p, p.steps() - 1)), fd), 1e-6);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// E - F = (prod_j (I - alpha H_j) - I) g with g = grad L_out(phi_r) = F; the bias bound
// |E - F|_2 <= |g|_2 ((1 + |alpha| |A|_2)^r - 1) with |A|_2 <= |A|_F; E = F when r = 0, alpha = 0
// or A = 0, in the oracle and bit for bit in the backends.
// covers: BILEVEL-FOM-BIAS BILEVEL-FOM-DEF
TEST(BilevelOracle, FomBias) {
  const WorkingPrecision wp(256);
  for (const P& p : oracle_problems()) {
    const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p), F = reference::fom<mp_real>(p);
    const auto cf = reference::closed_form<mp_real>(p);
    Tensor<mp_real> bias(Shape{p.dim()}), formula(Shape{p.dim()}, mp_real(0));
    for (Index i = 0; i < p.dim(); ++i) {
      bias[i] = E[i] - F[i];
      for (Index k = 0; k < p.dim(); ++k) formula[i] += (cf.P(i, k) - mp_real(i == k ? 1 : 0)) * F[k];
    }
    EXPECT_LE(relative_difference(bias, formula), kAgree);
    double bias2 = 0, g2 = 0, a2 = 0;
    for (Index i = 0; i < p.dim(); ++i) {
      bias2 += to_double(bias[i] * bias[i]);
      g2 += to_double(F[i] * F[i]);
    }
    for (Index i = 0; i < p.in().A.count(); ++i) a2 += p.in().A[i] * p.in().A[i];
    const double bound = std::sqrt(g2) * (std::pow(1 + std::fabs(p.in().alpha) * std::sqrt(a2), static_cast<double>(p.steps())) - 1);
    EXPECT_LE(std::sqrt(bias2), bound * (1 + 1e-12) + 1e-300);
    // The bias formula rejects an estimate of E with one step dropped.
    if (p.steps() > 0) {
      const Tensor<mp_real> wrong = reference::exact_hypergradient<mp_real>(with_steps(p, p.steps() - 1));
      Tensor<mp_real> wrong_bias(Shape{p.dim()});
      for (Index i = 0; i < p.dim(); ++i) wrong_bias[i] = wrong[i] - F[i];
      EXPECT_GT(relative_difference(wrong_bias, formula), 1e-6);
    }
  }
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    const P base = make(5, 7, 0.1, seed);
    const P zero_a({Tensor<double>(Shape{5, 5}, 0.0), base.in().c, base.in().theta, base.in().alpha, 7});
    for (const P& p : {with_steps(base, 0), with_alpha(base, 0.0), zero_a}) {
      EXPECT_EQ(relative_difference(reference::exact_hypergradient<mp_real>(p), reference::fom<mp_real>(p)), 0.0);
      for (order::Method m : {order::Method::stored, order::Method::recompute, order::Method::forward}) {
        const Tensor<double> e64 = cpu::exact_hypergradient(p, m), f64 = cpu::fom(p);
        const Tensor<float> e32 = cpu::exact_hypergradient(p.cast<float>(), m), f32 = cpu::fom(p.cast<float>());
        for (Index i = 0; i < p.dim(); ++i) {
          EXPECT_EQ(e64[i], f64[i]) << "seed " << seed << " method " << static_cast<int>(m);
          EXPECT_EQ(e32[i], f32[i]) << "seed " << seed << " method " << static_cast<int>(m);
        }
      }
    }
    // ... and the bias is not zero otherwise: beyond the oracles' own agreement (kAgree), so the
    // checker above can fail.
    EXPECT_GT(relative_difference(reference::exact_hypergradient<mp_real>(base), reference::fom<mp_real>(base)), kAgree);
  }
}

// ---------------------------------------------------------------------------------------------
// (1 - q) g(xi = 0) + q g(xi = 1) = E; q = 1 gives E; xi = 0 gives F.
// covers: BILEVEL-UFOM-UNBIASED BILEVEL-UFOM-DEF
TEST(BilevelOracle, UfomIsUnbiased) {
  const WorkingPrecision wp(256);
  for (const P& p : oracle_problems()) {
    const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p), F = reference::fom<mp_real>(p);
    for (double q : {0.125, 0.3, 0.75, 1.0}) {
      const Tensor<mp_real> g0 = reference::ufom<mp_real>(UfomProblem<double>(p, q, 0));
      const Tensor<mp_real> g1 = reference::ufom<mp_real>(UfomProblem<double>(p, q, 1));
      EXPECT_EQ(relative_difference(g0, F), 0.0);
      Tensor<mp_real> mean(Shape{p.dim()}), wrong(Shape{p.dim()});
      for (Index i = 0; i < p.dim(); ++i) {
        mean[i] = (1 - mp_real(q)) * g0[i] + mp_real(q) * g1[i];
        // A wrong estimator, F + xi (E - F) (the 1/q forgotten), is biased for q < 1.
        wrong[i] = (1 - mp_real(q)) * F[i] + mp_real(q) * E[i];
      }
      EXPECT_LE(relative_difference(mean, E), kAgree) << "q " << q;
      if (q == 1.0) {
        EXPECT_LE(relative_difference(g1, E), kAgree);
      }
      if (q < 1 && p.steps() > 0 && p.in().alpha != 0) {
        EXPECT_GT(relative_difference(wrong, E), 1e-6);
      }
    }
  }
}

// E_xi |g|^2 = (1 - q) |g(0)|^2 + q |g(1)|^2 = |E|^2 + (1/q - 1) |E - F|^2.
// covers: BILEVEL-UFOM-MOMENT
TEST(BilevelOracle, UfomSecondMomentByEnumeration) {
  const WorkingPrecision wp(256);
  for (const P& p : oracle_problems()) {
    const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p), F = reference::fom<mp_real>(p);
    for (double q : {0.125, 0.3, 1.0}) {
      const Tensor<mp_real> g0 = reference::ufom<mp_real>(UfomProblem<double>(p, q, 0));
      const Tensor<mp_real> g1 = reference::ufom<mp_real>(UfomProblem<double>(p, q, 1));
      mp_real moment(0), e2(0), d2(0);
      for (Index i = 0; i < p.dim(); ++i) {
        moment += (1 - mp_real(q)) * g0[i] * g0[i] + mp_real(q) * g1[i] * g1[i];
        e2 += E[i] * E[i];
        d2 += (E[i] - F[i]) * (E[i] - F[i]);
      }
      const mp_real formula = e2 + (1 / mp_real(q) - 1) * d2;
      const double scale = std::max(to_double(moment), 1e-300);
      EXPECT_LE(std::fabs(to_double(moment - formula)) / scale, kAgree) << "q " << q;
      // A wrong variance term, (1/q) |E - F|^2, is rejected where E != F.
      if (to_double(d2) > 1e-12 * to_double(e2 + 1e-300)) {
        EXPECT_GT(std::fabs(to_double(moment - (e2 + d2 / mp_real(q)))) / scale, 1e-12);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Recomputation equals stored reverse mode in exact arithmetic (the oracles: the same operations
// on the same values, so equal at any precision), and bit for bit in the backends, whose order is
// the same; forward mode (a different association) agrees with the oracle to 2^-200 and with the
// backends' reverse mode within the sum of the two bounds.
// covers: BILEVEL-RECOMPUTE BILEVEL-FORWARD-DEF BILEVEL-STORED-CPU BILEVEL-RECOMPUTE-CPU BILEVEL-FORWARD-CPU
TEST(BilevelExactMethods, AgreeWithEachOther) {
  {
    const WorkingPrecision wp(256);
    for (const P& p : oracle_problems()) {
      const Tensor<mp_real> stored = reference::exact_hypergradient<mp_real>(p);
      EXPECT_EQ(relative_difference(reference::exact_hypergradient_recompute<mp_real>(p), stored), 0.0);
      EXPECT_LE(relative_difference(reference::exact_hypergradient_forward<mp_real>(p), stored), kAgree);
    }
  }
  for (std::uint64_t seed = 0; seed < 12; ++seed)
    for (Index r : {0, 1, 3, 10}) {
      const P p = make(1 + static_cast<Index>(seed % 6), r, 0.1, 100 + seed);
      const auto s64 = cpu::exact_hypergradient(p, order::Method::stored);
      const auto c64 = cpu::exact_hypergradient(p, order::Method::recompute);
      const auto f64 = cpu::exact_hypergradient(p, order::Method::forward);
      const auto s32 = cpu::exact_hypergradient(p.cast<float>(), order::Method::stored);
      const auto c32 = cpu::exact_hypergradient(p.cast<float>(), order::Method::recompute);
      const auto f32 = cpu::exact_hypergradient(p.cast<float>(), order::Method::forward);
      const auto bs = exact_hypergradient_bound(p, order::Method::stored, bilevel_arithmetic_cpu(Format::float32));
      const auto bf = exact_hypergradient_bound(p, order::Method::forward, bilevel_arithmetic_cpu(Format::float32));
      for (Index i = 0; i < p.dim(); ++i) {
        EXPECT_EQ(s64[i], c64[i]);
        EXPECT_EQ(s32[i], c32[i]);
        EXPECT_LE(std::fabs(static_cast<double>(s32[i]) - static_cast<double>(f32[i])), bs[i] + bf[i]);
        EXPECT_NEAR(s64[i], f64[i], 1e-9 * (1 + std::fabs(s64[i])));
      }
    }
}

// Inner steps: stored and forward r; recomputation r for phi_r and F, then j for each phi_j,
// r(r + 1)/2 in all; HVPs r (forward: r dim); one outer gradient. UFOM: r with xi = 0 (E is not
// computed), r(r + 1)/2 with xi = 1.
// covers: BILEVEL-RECOMPUTE-COST
TEST(BilevelExactMethods, StepCounts) {
  for (Index r : {0, 1, 2, 5, 10, 37}) {
    const P p = make(3, r, 0.1, 7);
    order::Counts s, c, f, fo, u0, u1;
    cpu::exact_hypergradient(p, order::Method::stored, &s);
    cpu::exact_hypergradient(p, order::Method::recompute, &c);
    cpu::exact_hypergradient(p, order::Method::forward, &f);
    cpu::fom(p, &fo);
    cpu::ufom(UfomProblem<double>(p, 0.5, 0), &u0);
    cpu::ufom(UfomProblem<double>(p, 0.5, 1), &u1);
    EXPECT_EQ(s.inner_steps, r);
    EXPECT_EQ(s.hvps, r);
    EXPECT_EQ(c.inner_steps, r * (r + 1) / 2);
    EXPECT_EQ(c.hvps, r);
    EXPECT_EQ(f.inner_steps, r);
    EXPECT_EQ(f.hvps, r * 3);
    EXPECT_EQ(fo.inner_steps, r);
    EXPECT_EQ(fo.hvps, 0);
    EXPECT_EQ(u0.inner_steps, r);
    EXPECT_EQ(u1.inner_steps, r * (r + 1) / 2);
    for (const order::Counts& k : {s, c, f, fo, u0, u1}) EXPECT_EQ(k.outer_gradients, 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Each backend within its own bound as r grows, and the any-order bound above it; the tightness
// (max err / bound) printed per r: the bound grows like (1 + |alpha| |A|_inf)^(2r + 1) (its
// propagation takes absolute values) while the error follows |I - alpha A|, so it loosens with r.
// covers: BILEVEL-BOUND-CPU BILEVEL-BOUND-ANY BILEVEL-BOUND-AFFINE BILEVEL-BOUND-EVAL
TEST(BilevelBound, WithinBoundAsRGrows) {
  const WorkingPrecision wp(256);
  std::printf("  r   | tightness cpu-f32 stored, forward, fom, ufom | bound/|E| (f32, stored)\n");
  for (Index r : {0, 1, 2, 5, 10, 20}) {
    double worst[4] = {0, 0, 0, 0}, rel_bound = 0;
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      const P p = make(4, r, 0.1, 200 + seed);
      const UfomProblem<double> u(p, 0.25, 1);
      const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p), F = reference::fom<mp_real>(p),
                            G = reference::ufom<mp_real>(u);
      struct Row {
        Tensor<float> out;
        Tensor<double> bound, any;
        const Tensor<mp_real>* exact;
      };
      const auto f32 = bilevel_arithmetic_cpu(Format::float32), any = bilevel_arithmetic_any_order(Format::float32);
      const Row rows[4] = {
          {cpu::exact_hypergradient(p.cast<float>(), order::Method::stored),
           exact_hypergradient_bound(p, order::Method::stored, f32),
           exact_hypergradient_bound(p, order::Method::stored, any), &E},
          {cpu::exact_hypergradient(p.cast<float>(), order::Method::forward),
           exact_hypergradient_bound(p, order::Method::forward, f32),
           exact_hypergradient_bound(p, order::Method::forward, any), &E},
          {cpu::fom(p.cast<float>()), fom_bound(p, f32), fom_bound(p, any), &F},
          {cpu::ufom(u.cast<float>()), ufom_bound(u, f32), ufom_bound(u, any), &G},
      };
      for (int k = 0; k < 4; ++k)
        for (Index i = 0; i < p.dim(); ++i) {
          const double err = std::fabs(to_double(mp_real(rows[k].out[i]) - (*rows[k].exact)[i]));
          ASSERT_TRUE(std::isfinite(rows[k].bound[i]));
          EXPECT_LE(err, rows[k].bound[i]) << "r " << r << " row " << k << " element " << i;
          EXPECT_LE(rows[k].bound[i], rows[k].any[i]);
          worst[k] = std::max(worst[k], err / rows[k].bound[i]);
          if (k == 0) rel_bound = std::max(rel_bound, rows[k].bound[i] / std::fabs(to_double(E[i])));
        }
    }
    std::printf("  %-3lld | %.2e %.2e %.2e %.2e | %.2e\n", static_cast<long long>(r), worst[0], worst[1], worst[2],
                worst[3], rel_bound);
  }
}

// Every backend within its own bound, float32 and float64, over steps of both signs, contracting
// and divergent loops, semi-definite and indefinite A (the affine form's soundness where errors
// do not simply shrink).
// covers: BILEVEL-CPU BILEVEL-FOM-CPU BILEVEL-UFOM-CPU BILEVEL-BOUND-CPU BILEVEL-BOUND-AFFINE
TEST(BilevelBound, WithinBoundAcrossProblems) {
  const WorkingPrecision wp(256);
  std::uint64_t seed = 500;
  for (double alpha : {-0.3, 0.1, 0.45, 0.9})
    for (Index d : {1, 3, 6})
      for (Index r : {3, 12})
        for (double shift : {0.0, 1.0}) {
          const P p = make(d, r, alpha, seed++, 1.0, shift);
          const UfomProblem<double> u(p, 0.375, 1);
          const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p), F = reference::fom<mp_real>(p),
                                G = reference::ufom<mp_real>(u);
          for (Format f : {Format::float32, Format::float64}) {
            const auto m = bilevel_arithmetic_cpu(f);
            const bool f32 = f == Format::float32;
            auto check = [&](const Tensor<double>& out, const Tensor<double>& bound, const Tensor<mp_real>& exact,
                             const char* what) {
              for (Index i = 0; i < d; ++i) {
                if (!std::isfinite(bound[i])) continue;  // outside the domain (an overflow): unjudged
                const double err = std::fabs(to_double(mp_real(out[i]) - exact[i]));
                EXPECT_LE(err, bound[i]) << what << (f32 ? " f32" : " f64") << " alpha " << alpha << " d " << d
                                         << " r " << r << " shift " << shift << " element " << i;
              }
            };
            for (order::Method meth : {order::Method::stored, order::Method::forward}) {
              const Tensor<double> out = f32 ? as_double(cpu::exact_hypergradient(p.cast<float>(), meth))
                                             : cpu::exact_hypergradient(p, meth);
              check(out, exact_hypergradient_bound(p, meth, m), E, "exact");
            }
            check(f32 ? as_double(cpu::fom(p.cast<float>())) : cpu::fom(p), fom_bound(p, m), F, "fom");
            check(f32 ? as_double(cpu::ufom(u.cast<float>())) : cpu::ufom(u), ufom_bound(u, m), G, "ufom");
          }
        }
}

// Past the affine form's budget (here forward mode at dim 20, r 30) the bound is Tracked's alone:
// every finite bound still holds and is below the element's magnitude, elements where it would not
// be are unjudged, and an all-zero answer is never a PASS.
// covers: BILEVEL-BOUND-AFFINE
TEST(BilevelBound, LargeProblemsFallBackWithoutVacuousBounds) {
  const WorkingPrecision wp(256);
  const P p = make(20, 30, 0.1, 77);
  const Tensor<mp_real> E = reference::exact_hypergradient<mp_real>(p);
  int finite = 0;
  for (Format f : {Format::float32, Format::float64}) {
    const int before = finite;
    const Tensor<double> out = f == Format::float32
                                   ? as_double(cpu::exact_hypergradient(p.cast<float>(), order::Method::forward))
                                   : cpu::exact_hypergradient(p, order::Method::forward);
    const Tensor<double> b = exact_hypergradient_bound(p, order::Method::forward, bilevel_arithmetic_cpu(f));
    for (Index i = 0; i < p.dim(); ++i) {
      if (!std::isfinite(b[i])) continue;
      ++finite;
      EXPECT_LE(std::fabs(to_double(mp_real(out[i]) - E[i])), b[i]);
      EXPECT_LT(b[i], std::fabs(to_double(E[i])) * (1 + 1e-6));
    }
    std::printf("  forward mode, dim 20, r 30, %s: %d of 20 elements with a finite bound\n", std::string(format_name(f)).c_str(), finite - before);
  }
  const Algorithm& a = builtin_registry().get("bilevel.quadratic.exact_stored");
  auto npy = [](const Tensor<double>& t) { return test_support::npy(t, 4); };
  NpyMap arrays{{"A", npy(p.in().A)}, {"c", npy(p.in().c)}, {"theta", npy(p.in().theta)},
                {"alpha", npy(Tensor<double>(Shape{}, p.in().alpha))}, {"r", npy(Tensor<double>(Shape{}, 30.0))}};
  const auto problem = a.from_arrays(arrays, {});
  EXPECT_NE(test_support::diff_verdict(a, *problem, Arrays{{"grad", Tensor<double>(Shape{20}, 0.0)}}),
            Verdict::pass);
}

// ---------------------------------------------------------------------------------------------
// `diff` (core's run_diff, the any-order bound) on the entries: touchstone's own float32 answer
// PASSes; wrong hypergradients FAIL: one inner step dropped, FOM passed off as exact, the step's
// sign flipped (gradient ascent), UFOM without the 1/q weight.
// covers: BILEVEL-DIFF-WRONG
TEST(BilevelDiff, WrongHypergradientsFail) {
  const Registry& reg = builtin_registry();
  auto npy = [](const Tensor<double>& t) { return test_support::npy(t, 4); };
  auto verdict = [&](const std::string& entry, const P& p, const Tensor<float>& theirs, double q = 0, int xi = -1) {
    const Algorithm& a = reg.get(entry);
    NpyMap arrays{{"A", npy(p.in().A)}, {"c", npy(p.in().c)}, {"theta", npy(p.in().theta)},
                  {"alpha", npy(Tensor<double>(Shape{}, p.in().alpha))},
                  {"r", npy(Tensor<double>(Shape{}, static_cast<double>(p.steps())))}};
    if (xi >= 0) {
      arrays["q"] = npy(Tensor<double>(Shape{}, q));
      arrays["xi"] = npy(Tensor<double>(Shape{}, xi));
    }
    const auto problem = a.from_arrays(arrays, {});
    return test_support::diff_verdict(a, *problem, Arrays{{"grad", as_double(theirs)}});
  };
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    const P p = make(4, 6, 0.1, 300 + seed);
    const auto p32 = p.cast<float>();
    for (const char* entry : {"bilevel.quadratic.exact_stored", "bilevel.quadratic.exact_recompute",
                              "bilevel.quadratic.exact_forward"}) {
      EXPECT_EQ(verdict(entry, p, cpu::exact_hypergradient(p32, order::Method::stored)), Verdict::pass) << entry;
      EXPECT_EQ(verdict(entry, p, cpu::exact_hypergradient(p32, order::Method::forward)), Verdict::pass) << entry;
      EXPECT_EQ(verdict(entry, p, cpu::exact_hypergradient(with_steps(p, 5).cast<float>(), order::Method::stored)),
                Verdict::fail)
          << entry << ": one step dropped";
      EXPECT_EQ(verdict(entry, p, cpu::fom(p32)), Verdict::fail) << entry << ": FOM passed off as exact";
      EXPECT_EQ(verdict(entry, p, cpu::exact_hypergradient(with_alpha(p, -p.in().alpha).cast<float>(),
                                                           order::Method::stored)),
                Verdict::fail)
          << entry << ": ascent instead of descent";
    }
    EXPECT_EQ(verdict("bilevel.quadratic.fom", p, cpu::fom(p32)), Verdict::pass);
    EXPECT_EQ(verdict("bilevel.quadratic.fom", p, cpu::exact_hypergradient(p32, order::Method::stored)), Verdict::fail);
    const UfomProblem<double> u(p, 0.25, 1);
    EXPECT_EQ(verdict("bilevel.quadratic.ufom", p, cpu::ufom(u.cast<float>()), 0.25, 1), Verdict::pass);
    // F + xi (E - F) = E: the 1/q weight forgotten.
    EXPECT_EQ(verdict("bilevel.quadratic.ufom", p, cpu::exact_hypergradient(p32, order::Method::stored), 0.25, 1),
              Verdict::fail);
    EXPECT_EQ(verdict("bilevel.quadratic.ufom", p, cpu::fom(p32), 0.25, 0), Verdict::pass);
    EXPECT_EQ(verdict("bilevel.quadratic.ufom", p, cpu::fom(p32), 0.25, 1), Verdict::fail);
  }
}

// ---------------------------------------------------------------------------------------------
// The drawn coin: xi = [u_draw < q] from the stream bilevel.ufom/xi; over N draws of one problem the
// mean of g is within z |E - F| sqrt((1/q - 1)/N) of E (z = 5 per coordinate, a union bound over
// at most 8 coordinates: a false alarm below 1e-5), and the fraction of exact branches within
// 5 sqrt(q (1 - q)/N) of q (which fixes the sample variance, (E - F)^2 p^(1 - p^)/q^2). A wrong
// coin (xi = [u < 2q]) fails both.
// covers: BILEVEL-UFOM-DRAWN BILEVEL-UFOM-MC
TEST(BilevelUfom, DrawnCoinMonteCarlo) {
  const int N = 4000;
  for (double q : {0.1, 0.25, 0.6}) {
    const P p = make(5, 6, 0.1, 900);
    const Tensor<double> E = reference::exact_hypergradient<double>(p), F = reference::fom<double>(p);
    auto run = [&](bool wrong) {
      std::vector<double> mean(5, 0.0);
      int exact_branches = 0;
      for (int k = 0; k < N; ++k) {
        int xi;
        if (!wrong) {
          const UfomDrawProblem<double> u(p, q, 42, static_cast<std::uint64_t>(k));
          xi = u.given().xi();
          // The entry's coin is the stream's.
          EXPECT_EQ(xi, PhiloxStream(42, "bilevel.ufom/xi").uniform(static_cast<std::uint64_t>(k)) < q ? 1 : 0);
        } else {
          xi = PhiloxStream(42, "bilevel.ufom/xi").uniform(static_cast<std::uint64_t>(k)) < 2 * q ? 1 : 0;
        }
        exact_branches += xi;
        const Tensor<double> g = cpu::ufom(UfomProblem<double>(p, q, xi));
        for (Index i = 0; i < 5; ++i) mean[static_cast<std::size_t>(i)] += g[i] / N;
      }
      bool ok = std::fabs(static_cast<double>(exact_branches) / N - q) <= 5 * std::sqrt(q * (1 - q) / N);
      for (Index i = 0; i < 5; ++i)
        ok = ok && std::fabs(mean[static_cast<std::size_t>(i)] - E[i]) <=
                       5 * std::fabs(E[i] - F[i]) * std::sqrt((1 / q - 1) / N) + 1e-12 * std::fabs(E[i]);
      return ok;
    };
    EXPECT_TRUE(run(false)) << "q " << q;
    EXPECT_FALSE(run(true)) << "q " << q << ": a coin of probability 2q passed";
  }
}

// The optimal-q closed forms equal the argmin of T_p(q) = (C_det + q C_rnd) S(q)^p on a grid of
// 2^16 points of (0, 1] (to the grid's resolution, where T_p is not flat), q* is non-decreasing in
// D2/V2, and q* = 1 from the threshold on. A formula with the wrong root (the other sign of the
// discriminant) or the p = 1 form used for p = 2 is rejected by the same comparison.
// covers: BILEVEL-OPTIMAL-Q
TEST(BilevelUfom, OptimalQIsTheGridArgmin) {
  auto argmin = [](double p, double c_det, double c_rnd, double d2, double v2) {
    const int n = 1 << 16;
    double best = 1, best_t = reference::ufom_cost(1, p, c_det, c_rnd, d2, v2);
    for (int i = 1; i < n; ++i) {
      const double q = static_cast<double>(i) / n;
      const double t = reference::ufom_cost(q, p, c_det, c_rnd, d2, v2);
      if (t < best_t) best = q, best_t = t;
    }
    return best;
  };
  PhiloxStream rng(3, "bilevel_test/optimal_q");
  int interior = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const double v2 = 0.5 + rng.next_uniform() * 2, d2 = v2 * rng.next_uniform() * rng.next_uniform();
    const double r = 1 + std::floor(rng.next_uniform() * 50);
    const double c_det = r + 1, c_rnd = r * (r - 1) / 2 + r;
    const double tol = 4.0 / (1 << 16);
    const double qh = reference::optimal_q_half(r, d2, v2), q1 = reference::optimal_q_one(c_det, c_rnd, d2, v2),
                 q2 = reference::optimal_q_two(c_det, c_rnd, d2, v2);
    EXPECT_NEAR(qh, argmin(0.5, r + 1, r, d2, v2), tol) << "p 1/2 r " << r << " D2/V2 " << d2 / v2;
    EXPECT_NEAR(q1, argmin(1, c_det, c_rnd, d2, v2), tol) << "p 1 r " << r << " D2/V2 " << d2 / v2;
    EXPECT_NEAR(q2, argmin(2, c_det, c_rnd, d2, v2), tol) << "p 2 r " << r << " D2/V2 " << d2 / v2;
    if (q2 < 1 - 1e-3) {
      ++interior;
      // Wrong formulas are told apart: p = 1's optimum for p = 2, and the other root.
      EXPECT_GT(std::fabs(q1 - argmin(2, c_det, c_rnd, d2, v2)), tol);
      const double a = (v2 - d2) * c_rnd, b = -d2 * c_rnd, c = -2 * d2 * c_det;
      const double other = (-b - std::sqrt(b * b - 4 * a * c)) / (2 * a);
      EXPECT_GT(std::fabs(other - argmin(2, c_det, c_rnd, d2, v2)), tol);
    }
  }
  EXPECT_GT(interior, 10);  // the interior case was exercised
  // Monotone in D2/V2, 1 at and above each threshold.
  for (double r : {1.0, 10.0}) {
    const double c_det = r + 1, c_rnd = r * (r - 1) / 2 + r;
    double last_h = 0, last_1 = 0, last_2 = 0;
    for (int i = 1; i <= 200; ++i) {
      const double d2 = i / 200.0;
      const double h = reference::optimal_q_half(r, d2, 1), o = reference::optimal_q_one(c_det, c_rnd, d2, 1),
                   t = reference::optimal_q_two(c_det, c_rnd, d2, 1);
      EXPECT_GE(h, last_h);
      EXPECT_GE(o, last_1);
      EXPECT_GE(t, last_2);
      last_h = h, last_1 = o, last_2 = t;
    }
    EXPECT_EQ(reference::optimal_q_half(r, 2 * r / (2 * r + 1), 1), 1.0);
    EXPECT_EQ(reference::optimal_q_two(c_det, c_rnd, 0.5 * c_rnd / (c_det + c_rnd), 1), 1.0);
    EXPECT_NEAR(reference::optimal_q_two(c_det, c_rnd, 0.5 * c_rnd / (c_det + c_rnd) * (1 - 1e-9), 1), 1.0, 1e-6);
    // D2 = 0 (no bias to correct): q = 0, the limit from above, for p = 1/2, 1 and 2 (the root
    // formula once gave 1 here: 0/0 with b = -0).
    EXPECT_EQ(reference::optimal_q_half(r, 0, 1), 0.0);
    EXPECT_EQ(reference::optimal_q_one(c_det, c_rnd, 0, 1), 0.0);
    EXPECT_EQ(reference::optimal_q_two(c_det, c_rnd, 0, 1), 0.0);
    EXPECT_LT(reference::optimal_q_two(c_det, c_rnd, 1e-12, 1), 1e-5);
  }
}

// ---------------------------------------------------------------------------------------------
// The ridge class.
using R = RidgeProblem<double>;

// X, X_val standard normal, y = X w* + noise, w0 small, theta uniform in [lo, hi]; float32 values.
R make_ridge(Index n, Index m, Index d, Index r, double alpha, std::uint64_t seed, double lo = -2, double hi = 1) {
  PhiloxStream g(seed, "bilevel_test/ridge"), t(seed, "bilevel_test/ridge_theta");
  auto fill = [&](Shape shape, double scale) {
    Tensor<double> x(std::move(shape));
    for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(scale * g.next_normal(), Format::float32);
    return x;
  };
  const Tensor<double> ws = fill(Shape{d}, 1.0), X = fill(Shape{n, d}, 1.0), Xv = fill(Shape{m, d}, 1.0);
  auto targets = [&](const Tensor<double>& A) {
    Tensor<double> y(Shape{A.extent(0)});
    for (Index i = 0; i < A.extent(0); ++i) {
      double v = 0.1 * g.next_normal();
      for (Index k = 0; k < d; ++k) v += A(i, k) * ws[k];
      y[i] = round_to_format(v, Format::float32);
    }
    return y;
  };
  Tensor<double> theta(Shape{d});
  for (Index k = 0; k < d; ++k) theta[k] = round_to_format(t.next_uniform(lo, hi), Format::float32);
  return R({X, targets(X), Xv, targets(Xv), fill(Shape{d}, 0.1), theta, round_to_format(alpha, Format::float32), r});
}
R ridge_with_steps(const R& p, Index r) {
  const auto& in = p.in();
  return R({in.X, in.y, in.X_val, in.y_val, in.w0, in.theta, in.alpha, r});
}

// A wrong ridge hypergradient in double: the theta term read at w_{j+1} instead of w_j (the
// stored trajectory off by one), or left out (`omit`).
Tensor<double> ridge_wrong(const R& p, bool omit) {
  const auto& in = p.in();
  const Index d = p.dim();
  std::vector<std::vector<double>> w{std::vector<double>(in.w0.values())};
  auto normal = [&](const Tensor<double>& X, const Tensor<double>& y, const std::vector<double>& v, bool sub) {
    std::vector<double> res(static_cast<std::size_t>(X.extent(0)), 0.0), g(static_cast<std::size_t>(d), 0.0);
    for (Index i = 0; i < X.extent(0); ++i) {
      for (Index k = 0; k < d; ++k) res[i] += X(i, k) * v[k];
      if (sub) res[i] -= y[i];
    }
    for (Index k = 0; k < d; ++k) {
      for (Index i = 0; i < X.extent(0); ++i) g[k] += X(i, k) * res[i];
      g[k] /= static_cast<double>(X.extent(0));
    }
    return g;
  };
  for (Index j = 0; j < p.steps(); ++j) {
    std::vector<double> next = w.back();
    const std::vector<double> g = normal(in.X, in.y, w.back(), true);
    for (Index k = 0; k < d; ++k) next[k] -= in.alpha * (g[k] + std::exp(in.theta[k]) * w.back()[k]);
    w.push_back(next);
  }
  std::vector<double> a = normal(in.X_val, in.y_val, w.back(), true), mu(static_cast<std::size_t>(d), 0.0);
  for (Index j = p.steps() - 1; j >= 0; --j) {
    const std::vector<double> h = normal(in.X, in.y, a, false);
    for (Index k = 0; k < d; ++k) {
      const double lambda = std::exp(in.theta[k]);
      if (!omit) mu[k] -= in.alpha * lambda * w[static_cast<std::size_t>(j + 1)][k] * a[k];
      a[k] -= in.alpha * (h[k] + lambda * a[k]);
    }
  }
  return Tensor<double>(Shape{d}, mu);
}

// The oracle is the derivative of M: a central difference at 256 bits with h = 2^-30 (O(h^2)),
// to 1e-12 relative; a hypergradient with one step dropped is rejected by the same comparison.
// covers: BILEVEL-RIDGE-DEF
TEST(BilevelRidge, OracleIsTheDerivativeOfM) {
  const WorkingPrecision wp(256);
  const double h = 0x1p-30;
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    const R p = make_ridge(6 + static_cast<Index>(seed), 5, 1 + static_cast<Index>(seed % 4), static_cast<Index>(seed) * 2,
                           0.1, seed);
    const Tensor<mp_real> E = reference::ridge_hypergradient<mp_real>(p);
    Tensor<mp_real> fd(Shape{p.dim()});
    for (Index t = 0; t < p.dim(); ++t) {
      Tensor<double> plus = p.in().theta, minus = p.in().theta;
      plus[t] += h;
      minus[t] -= h;
      const auto& in = p.in();
      fd[t] = (reference::ridge_outer_loss<mp_real>(R({in.X, in.y, in.X_val, in.y_val, in.w0, plus, in.alpha, in.r})) -
               reference::ridge_outer_loss<mp_real>(R({in.X, in.y, in.X_val, in.y_val, in.w0, minus, in.alpha, in.r}))) /
              mp_real(2 * h);
    }
    if (p.steps() == 0) {
      EXPECT_EQ(relative_difference(E, fd), 0.0);  // w_0 does not depend on theta: both 0
      continue;
    }
    EXPECT_LE(relative_difference(E, fd), 1e-12) << "seed " << seed;
    EXPECT_GT(relative_difference(reference::ridge_hypergradient<mp_real>(ridge_with_steps(p, p.steps() - 1)), fd), 1e-6);
  }
}

// Stored = recomputation bit for bit (the recomputed iterates are the stored ones), forward mode
// within the two bounds; the step counts; every backend within its bound, f32 and f64, over step
// sizes, regularizers from 0.02 to 20 and r up to 12.
// covers: BILEVEL-RIDGE-CPU BILEVEL-RECOMPUTE-COST
TEST(BilevelRidge, MethodsAgreeCountsAndBounds) {
  const WorkingPrecision wp(256);
  std::uint64_t seed = 40;
  double worst = 0;
  for (double alpha : {0.05, 0.2})
    for (Index r : {0, 1, 4, 12})
      for (double lo : {-4.0, 0.0}) {
        const R p = make_ridge(10, 7, 3, r, alpha, seed++, lo, lo + 3);
        const Tensor<mp_real> E = reference::ridge_hypergradient<mp_real>(p);
        for (Format f : {Format::float32, Format::float64}) {
          const bool f32 = f == Format::float32;
          auto run = [&](order::Method m, order::Counts* c) {
            return f32 ? as_double(cpu::ridge_hypergradient(p.cast<float>(), m, c)) : cpu::ridge_hypergradient(p, m, c);
          };
          order::Counts cs, cr, cf;
          const Tensor<double> s = run(order::Method::stored, &cs), rc = run(order::Method::recompute, &cr),
                               fw = run(order::Method::forward, &cf);
          EXPECT_EQ(cs.inner_steps, r);
          EXPECT_EQ(cr.inner_steps, r * (r + 1) / 2);
          EXPECT_EQ(cf.inner_steps, r);
          EXPECT_EQ(cs.hvps, r);
          EXPECT_EQ(cf.hvps, r * 3);
          const auto m = bilevel_arithmetic_cpu(f);
          const Tensor<double> bs = ridge_hypergradient_bound(p, order::Method::stored, m),
                               bf = ridge_hypergradient_bound(p, order::Method::forward, m);
          for (Index i = 0; i < p.dim(); ++i) {
            EXPECT_EQ(s[i], rc[i]);
            ASSERT_TRUE(std::isfinite(bs[i]) && std::isfinite(bf[i]));
            const double es = std::fabs(to_double(mp_real(s[i]) - E[i])), ef = std::fabs(to_double(mp_real(fw[i]) - E[i]));
            EXPECT_LE(es, bs[i]) << "alpha " << alpha << " r " << r << " lo " << lo;
            EXPECT_LE(ef, bf[i]) << "alpha " << alpha << " r " << r << " lo " << lo;
            EXPECT_LE(std::fabs(s[i] - fw[i]), bs[i] + bf[i]);
            if (bs[i] > 0) worst = std::max(worst, es / bs[i]);
          }
        }
      }
  std::printf("  ridge: largest err/bound (stored) %.3g\n", worst);
  EXPECT_GT(worst, kVacuousRatio);  // [CORE-TIGHTNESS-FLOOR]
}

// `diff` on the ridge entries: touchstone's float32 answers (reverse and forward) PASS; one step
// dropped, the theta term read at w_{j+1} (a stored trajectory off by one), and the theta term left
// out (the "first-order" answer, 0 here: w_0 does not depend on theta) FAIL.
// covers: BILEVEL-DIFF-WRONG
TEST(BilevelRidge, WrongHypergradientsFail) {
  const Registry& reg = builtin_registry();
  auto npy = [](const Tensor<double>& t) { return test_support::npy(t, 4); };
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const R p = make_ridge(12, 8, 4, 6, 0.1, 700 + seed);
    const auto& in = p.in();
    NpyMap arrays{{"X", npy(in.X)},         {"y", npy(in.y)},         {"X_val", npy(in.X_val)},
                  {"y_val", npy(in.y_val)}, {"w0", npy(in.w0)},       {"theta", npy(in.theta)},
                  {"alpha", npy(Tensor<double>(Shape{}, in.alpha))}, {"r", npy(Tensor<double>(Shape{}, 6.0))}};
    for (const char* entry : {"bilevel.ridge.exact_stored", "bilevel.ridge.exact_recompute", "bilevel.ridge.exact_forward"}) {
      const Algorithm& a = reg.get(entry);
      const auto problem = a.from_arrays(arrays, {});
      auto verdict = [&](const Tensor<double>& theirs) {
        Tensor<double> t = theirs;
        for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(t[i], Format::float32);
        return test_support::diff_verdict(a, *problem, Arrays{{"grad", t}});
      };
      EXPECT_EQ(verdict(as_double(cpu::ridge_hypergradient(p.cast<float>(), order::Method::stored))), Verdict::pass) << entry;
      EXPECT_EQ(verdict(as_double(cpu::ridge_hypergradient(p.cast<float>(), order::Method::forward))), Verdict::pass) << entry;
      EXPECT_EQ(verdict(reference::ridge_hypergradient<double>(p)), Verdict::pass) << entry;
      EXPECT_EQ(verdict(reference::ridge_hypergradient<double>(ridge_with_steps(p, 5))), Verdict::fail) << entry;
      EXPECT_EQ(verdict(ridge_wrong(p, false)), Verdict::fail) << entry << ": theta term off by one";
      EXPECT_EQ(verdict(ridge_wrong(p, true)), Verdict::fail) << entry << ": theta term left out";
    }
  }
}

// Hessian-vector products: the ridge oracle equals (X^T X / n + diag(exp(theta))) v with X^T X
// formed first (another association) at 256 bits, the quadratic one A v; the backends are within
// their bounds; `diff` fails H v without the regularizer or without the 1/n, and passes the
// backends' float32 answers.
// covers: BILEVEL-HVP-DEF
TEST(BilevelHvp, OracleBackendsAndWrongAnswers) {
  const WorkingPrecision wp(256);
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    const R p = make_ridge(9, 3, 4, 0, 0.1, 60 + seed);
    Tensor<double> v(Shape{4});
    for (Index k = 0; k < 4; ++k) v[k] = round_to_format(0.5 - 0.3 * static_cast<double>(k), Format::float32);
    const HvpProblem<R> h(p, v);
    const Tensor<mp_real> hv = reference::hvp<mp_real>(h);
    Tensor<mp_real> formed(Shape{4}, mp_real(0));
    for (Index k = 0; k < 4; ++k) {
      for (Index l = 0; l < 4; ++l) {
        mp_real xtx(0);
        for (Index i = 0; i < 9; ++i) xtx += mp_real(p.in().X(i, k)) * mp_real(p.in().X(i, l));
        formed[k] += xtx / 9 * mp_real(v[l]);
      }
      formed[k] += exp(mp_real(p.in().theta[k])) * mp_real(v[k]);
    }
    EXPECT_LE(relative_difference(hv, formed), kAgree);
    for (Format f : {Format::float32, Format::float64}) {
      const Tensor<double> out = f == Format::float32 ? as_double(cpu::hvp(h.cast<float>())) : cpu::hvp(h);
      const Tensor<double> b = hvp_bound(h, bilevel_arithmetic_cpu(f));
      for (Index k = 0; k < 4; ++k) EXPECT_LE(std::fabs(to_double(mp_real(out[k]) - hv[k])), b[k]);
    }
    // Quadratic: A v.
    const P q = make(4, 0, 0.1, 80 + seed);
    const HvpProblem<P> hq(q, v);
    Tensor<mp_real> av(Shape{4}, mp_real(0));
    for (Index i = 0; i < 4; ++i)
      for (Index k = 0; k < 4; ++k) av[i] += mp_real(q.in().A(i, k)) * mp_real(v[k]);
    EXPECT_LE(relative_difference(reference::hvp<mp_real>(hq), av), kAgree);
    // diff on bilevel.ridge.hvp.
    const Algorithm& a = builtin_registry().get("bilevel.ridge.hvp");
    auto npy = [](const Tensor<double>& t) { return test_support::npy(t, 4); };
    const auto problem = a.from_arrays({{"X", npy(p.in().X)}, {"theta", npy(p.in().theta)}, {"v", npy(v)}}, {});
    auto verdict = [&](const Tensor<mp_real>& theirs) {
      Tensor<double> t(Shape{4});
      for (Index k = 0; k < 4; ++k) t[k] = round_to_format(to_double(theirs[k]), Format::float32);
      return test_support::diff_verdict(a, *problem, Arrays{{"hv", t}});
    };
    Tensor<mp_real> no_reg = hv, no_n = hv;
    for (Index k = 0; k < 4; ++k) {
      const mp_real reg = exp(mp_real(p.in().theta[k])) * mp_real(v[k]);
      no_reg[k] = hv[k] - reg;
      no_n[k] = (hv[k] - reg) * 9 + reg;
    }
    EXPECT_EQ(verdict(hv), Verdict::pass);
    EXPECT_EQ(verdict(no_reg), Verdict::fail) << "the regularizer left out";
    EXPECT_EQ(verdict(no_n), Verdict::fail) << "the 1/n left out";
    EXPECT_EQ(test_support::diff_verdict(a, *problem, Arrays{{"hv", as_double(cpu::hvp(h.cast<float>()))}}),
              Verdict::pass);
  }
}

// ---------------------------------------------------------------------------------------------
// covers: BILEVEL-SHAPES BILEVEL-NONFINITE
TEST(BilevelInput, BadInputIsNamed) {
  const P p = make(3, 2, 0.1, 1);
  auto argument = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const InvalidInput& e) {
      return e.argument();
    }
    return "(accepted)";
  };
  Tensor<double> asym = p.in().A;
  asym(0, 1) += 0.5;
  EXPECT_EQ(argument([&] { P({asym, p.in().c, p.in().theta, 0.1, 2}); }), "A");
  EXPECT_EQ(argument([&] { P({Tensor<double>(Shape{3, 2}), p.in().c, p.in().theta, 0.1, 2}); }), "A");
  EXPECT_EQ(argument([&] { P({p.in().A, Tensor<double>(Shape{2}), p.in().theta, 0.1, 2}); }), "c");
  EXPECT_EQ(argument([&] { P({p.in().A, p.in().c, Tensor<double>(Shape{4}), 0.1, 2}); }), "theta");
  Tensor<double> nan_theta = p.in().theta;
  nan_theta[1] = NAN;
  EXPECT_EQ(argument([&] { P({p.in().A, p.in().c, nan_theta, 0.1, 2}); }), "theta");
  Tensor<double> inf_a = p.in().A;
  inf_a(1, 1) = INFINITY;
  EXPECT_EQ(argument([&] { P({inf_a, p.in().c, p.in().theta, 0.1, 2}); }), "A");
  EXPECT_EQ(argument([&] { P({p.in().A, p.in().c, p.in().theta, NAN, 2}); }), "alpha");
  EXPECT_EQ(argument([&] { P({p.in().A, p.in().c, p.in().theta, 0.1, -1}); }), "r");
  EXPECT_EQ(argument([&] { UfomProblem<double>(p, 0.0, 1); }), "q");
  EXPECT_EQ(argument([&] { UfomProblem<double>(p, 1.5, 1); }), "q");
  EXPECT_EQ(argument([&] { UfomProblem<double>(p, 0.5, 2); }), "xi");
  EXPECT_EQ(argument([&] { UfomDrawProblem<double>(p, 0.5, kMaxSeed + 1, 0); }), "seed");
  EXPECT_EQ(argument([&] { UfomDrawProblem<double>(p, 0.5, 1, kMaxSeed + 1); }), "draw");
  EXPECT_EQ(argument([&] { UfomDrawProblem<double>(p, -0.5, 1, 0); }), "q");
  EXPECT_EQ(argument([&] { P({p.in().A, p.in().c, p.in().theta, 0.1, 2}); }), "(accepted)");
  const R rp = make_ridge(5, 4, 3, 2, 0.1, 1);
  const auto& ri = rp.in();
  EXPECT_EQ(argument([&] { R({ri.X, Tensor<double>(Shape{4}), ri.X_val, ri.y_val, ri.w0, ri.theta, 0.1, 2}); }), "y");
  EXPECT_EQ(argument([&] { R({ri.X, ri.y, Tensor<double>(Shape{4, 2}), ri.y_val, ri.w0, ri.theta, 0.1, 2}); }), "X_val");
  EXPECT_EQ(argument([&] { R({ri.X, ri.y, ri.X_val, ri.y_val, Tensor<double>(Shape{2}), ri.theta, 0.1, 2}); }), "w0");
  Tensor<double> nan_x = ri.X;
  nan_x[3] = NAN;
  EXPECT_EQ(argument([&] { R({nan_x, ri.y, ri.X_val, ri.y_val, ri.w0, ri.theta, 0.1, 2}); }), "X");
  Tensor<double> inf_theta = ri.theta;
  inf_theta[0] = INFINITY;
  EXPECT_EQ(argument([&] { R({ri.X, ri.y, ri.X_val, ri.y_val, ri.w0, inf_theta, 0.1, 2}); }), "theta");
  EXPECT_EQ(argument([&] { R({ri.X, ri.y, ri.X_val, ri.y_val, ri.w0, ri.theta, 0.1, -3}); }), "r");
  EXPECT_EQ(argument([&] { HvpProblem<R>(rp, Tensor<double>(Shape{2})); }), "v");
  Tensor<double> nan_v(Shape{3}, 1.0);
  nan_v[2] = NAN;
  EXPECT_EQ(argument([&] { HvpProblem<P>(p, nan_v); }), "v");
  // Through the entry: alpha and r are required (file or option).
  const Algorithm& a = builtin_registry().get("bilevel.quadratic.exact_stored");
  auto npy = [](const Tensor<double>& t) { return test_support::npy(t); };
  NpyMap arrays{{"A", npy(p.in().A)}, {"c", npy(p.in().c)}, {"theta", npy(p.in().theta)}};
  EXPECT_EQ(argument([&] { a.from_arrays(arrays, {{"r", "2"}}); }), "alpha");
  EXPECT_EQ(argument([&] { a.from_arrays(arrays, {{"alpha", "0.1"}}); }), "r");
  EXPECT_EQ(argument([&] { a.from_arrays(arrays, {{"alpha", "0.1"}, {"r", "2"}}); }), "(accepted)");
  // A given as its diagonal is the diagonal matrix.
  Tensor<double> diag(Shape{3});
  for (Index i = 0; i < 3; ++i) diag[i] = p.in().A(i, i);
  NpyMap diagonal{{"A", npy(diag)}, {"c", npy(p.in().c)}, {"theta", npy(p.in().theta)}};
  const Arrays back = a.from_arrays(diagonal, {{"alpha", "0.1"}, {"r", "2"}})->inputs();
  for (Index i = 0; i < 3; ++i)
    for (Index k = 0; k < 3; ++k) EXPECT_EQ(back.at("A")(i, k), i == k ? diag[i] : 0.0);
}

}  // namespace
