// Riemannian optimization on O(d) and St(N, M) (spec/orthogonal.md [ORTH-RGRAD-DEF],
// [ORTH-RGD-EXP-DEF], [ORTH-RGD-CAYLEY-DEF]): the oracles' identities at MPFR precision (X^T grad
// skew, the step keeps X's orthogonality defect, first-order descent with its O(eta^2) rate), the
// backends within their bounds beyond the default sizes, and `diff` failing wrong conventions;
// each check shown to fail on a wrong answer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "../diff_verdict.hpp"
#include "../tightness.hpp"
#include "cpu/orthogonal.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/order/orthogonal_order.hpp"
#include "touchstone/reference/orthogonal.hpp"
#include "test_inputs.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;
using touchstone::test_support::diff_verdict;

namespace {

using test_inputs::kExact;

Tensor<double> normal(Index rows, Index cols, std::uint64_t seed, const char* name, Format f = Format::float32) {
  return test_inputs::normal("riemannian_test", rows, cols, seed, name, f);
}

Tensor<double> stiefel_point(Index N, Index M, std::uint64_t seed) { return test_inputs::stiefel_point("riemannian_test", N, M, seed); }

// An exactly orthogonal X: a signed permutation (row i has -1^i at column (3 i + 1) mod d, d not a
// multiple of 3).
Tensor<double> signed_permutation(Index d) {
  Tensor<double> x(Shape{d, d}, 0.0);
  for (Index i = 0; i < d; ++i) x(i, (3 * i + 1) % d) = i % 2 ? -1.0 : 1.0;
  return x;
}

template <class A, class B>
Tensor<mp_real> product(const A& a, const B& b, bool transpose_a = false) {
  const Index n = transpose_a ? a.extent(1) : a.extent(0), k = transpose_a ? a.extent(0) : a.extent(1), m = b.extent(1);
  Tensor<mp_real> c(Shape{n, m}, mp_real(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j)
      for (Index l = 0; l < k; ++l) c(i, j) += mp_real(transpose_a ? a(l, i) : a(i, l)) * mp_real(b(l, j));
  return c;
}

// ||X^T X - I||_F in MPFR.
template <class T>
mp_real defect_f(const Tensor<T>& x) {
  const Tensor<mp_real> g = product(x, x, true);
  mp_real s(0);
  for (Index i = 0; i < g.extent(0); ++i)
    for (Index j = 0; j < g.extent(1); ++j) {
      const mp_real d = g(i, j) - mp_real(i == j ? 1 : 0);
      s += d * d;
    }
  return sqrt(s);
}

// max |sym(X^T grad)|_ij and the allowance ||X^T X - I||_F ||sym(X^T G)||_F: X^T grad =
// Omega + S - X^T X S = Omega - (X^T X - I) S with S = sym(X^T G), so |sym(X^T grad)| <= |D S|_2.
struct SkewCheck {
  double asym, allowed;
};
SkewCheck skewness(const Tensor<double>& x, const Tensor<double>& g, const Tensor<mp_real>& grad) {
  const Tensor<mp_real> xg = product(x, grad, true), p = product(x, g, true);
  double asym = 0;
  mp_real s2(0);
  for (Index i = 0; i < xg.extent(0); ++i)
    for (Index j = 0; j < xg.extent(1); ++j) {
      asym = std::max(asym, std::fabs(to_double((xg(i, j) + xg(j, i)) / 2)));
      const mp_real s = (p(i, j) + p(j, i)) / 2;
      s2 += s * s;
    }
  return {asym, to_double(defect_f(x) * sqrt(s2)) * (1 + 1e-10) + kExact};
}

}  // namespace

// covers: ORTH-RGRAD-DEF ORTH-RGRAD-SKEW
// Omega is exactly skew; X^T grad is skew up to X's own orthogonality defect (exactly, for an exactly
// orthogonal X); on O(d) grad = X Omega to the same defect. Wrong gradients fail: G itself, the skew
// part subtracted in place of the symmetric one, X (X^T G) (no symmetrization is skew only by accident: it
// is 0, so its check is that it differs from X Omega).
TEST(OrthogonalRiemannian, GradientIsTangent) {
  const WorkingPrecision precision(256);
  struct Case {
    Index N, M;
  };
  for (const Case c : {Case{5, 5}, Case{8, 8}, Case{7, 3}}) {
    const Tensor<double> x = stiefel_point(c.N, c.M, 11), g = normal(c.N, c.M, 12, "G");
    const RiemannianProblem<double> p(x, g);
    const Tensor<mp_real> omega = reference::riemannian_omega<mp_real>(p), grad = reference::riemannian_grad<mp_real>(p);
    for (Index i = 0; i < c.M; ++i)
      for (Index k = 0; k < c.M; ++k) EXPECT_LT(std::fabs(to_double(omega(i, k) + omega(k, i))), kExact);
    const SkewCheck ok = skewness(x, g, grad);
    std::printf("N=%lld M=%lld: max |sym(X^T grad)| %.3g, allowed %.3g (X's defect x |sym(X^T G)|)\n",
                static_cast<long long>(c.N), static_cast<long long>(c.M), ok.asym, ok.allowed);
    EXPECT_LE(ok.asym, ok.allowed);
    EXPECT_GT(ok.allowed, 0.0);
    // Wrong: the Euclidean gradient; grad' = G - X skew(X^T G).
    Tensor<mp_real> euclid(g.shape()), wrong(g.shape());
    for (Index i = 0; i < g.count(); ++i) euclid[i] = mp_real(g[i]);
    const Tensor<mp_real> xo = product(x, omega);
    for (Index i = 0; i < g.count(); ++i) wrong[i] = mp_real(g[i]) - xo[i];
    EXPECT_GT(skewness(x, g, euclid).asym, 1e3 * ok.allowed);
    EXPECT_GT(skewness(x, g, wrong).asym, 1e3 * ok.allowed);
    if (c.N == c.M) {  // O(d): grad = X Omega + (I - X X^T) G, within ||X X^T - I||_2 |G|
      double m = 0;
      for (Index i = 0; i < grad.count(); ++i) m = std::max(m, std::fabs(to_double(grad[i] - xo[i])));
      EXPECT_LT(m, 1e-5);  // float32-rounded X: defect ~ 1e-7, |G| ~ 3
      EXPECT_GT(m, 0.0);
    }
  }
  // An exactly orthogonal X: X^T grad is skew at the oracle's precision.
  const Tensor<double> x = signed_permutation(5), g = normal(5, 5, 13, "G");
  const Tensor<mp_real> grad = reference::riemannian_grad<mp_real>(RiemannianProblem<double>(x, g));
  EXPECT_LT(skewness(x, g, grad).asym, kExact);
}

// covers: ORTH-RGD-ORTHOGONAL ORTH-RGD-EXP-DEF ORTH-RGD-CAYLEY-DEF
// Both steps multiply X by an orthogonal matrix, so ||X+^T X+ - I||_F = ||X^T X - I||_F at the oracle's
// precision (0 for an exactly orthogonal X); the first-order step X (I - eta Omega) fails the check.
TEST(OrthogonalRiemannian, StepKeepsTheDefect) {
  const WorkingPrecision precision(256);
  for (const Retraction r : {Retraction::exp, Retraction::cayley}) {
    for (const bool exact_x : {false, true}) {
      const Tensor<double> x = exact_x ? signed_permutation(7) : stiefel_point(7, 7, 21), g = normal(7, 7, 22, "G");
      const RgdStepProblem<double> p(RiemannianProblem<double>(x, g), 0.3, r);
      const Tensor<mp_real> next = reference::rgd_step<mp_real>(p);
      const mp_real before = defect_f(x), after = defect_f(next);
      EXPECT_LT(std::fabs(to_double(after - before)), kExact) << (r == Retraction::exp ? "exp" : "cayley");
      if (exact_x) {
        EXPECT_LT(to_double(after), kExact);
      }
      // Wrong: X (I - eta Omega).
      const Tensor<mp_real> omega = reference::riemannian_omega<mp_real>(p.base());
      Tensor<mp_real> first(omega.shape());
      for (Index i = 0; i < 7; ++i)
        for (Index k = 0; k < 7; ++k) first(i, k) = mp_real(i == k ? 1 : 0) - mp_real(0.3) * omega(i, k);
      // Its Gram matrix is I + eta^2 Omega^T Omega: it fails the comparison the right step passes.
      EXPECT_GT(std::fabs(to_double(defect_f(product(x, first)) - before)), kExact);
    }
  }
  // The Stiefel case keeps the columns' defect too.
  const Tensor<double> x = stiefel_point(9, 4, 23), g = normal(9, 4, 24, "G");
  const mp_real before = defect_f(x);
  for (const Retraction r : {Retraction::exp, Retraction::cayley})
    EXPECT_LT(std::fabs(to_double(defect_f(reference::rgd_step<mp_real>(RgdStepProblem<double>(RiemannianProblem<double>(x, g), 0.7, r))) - before)),
              kExact);
}

// covers: ORTH-RGD-DESCENT
// On the quadratic f(X) = |A X - Y|_F^2 / 2 (G = A^T (A X - Y), computed in MPFR and rounded to
// binary64), the remainder r(eta) = f(X) - f(X+) - eta |Omega|_F^2 is O(eta^2): r(eta) / r(eta / 2) =
// 4 (1 + O(eta)), checked at eta = 2^-10 within 0.05. The wrong steps have r = O(eta) (ratio 2): Omega
// without the 1/2 (the step taken with 2 G), and the step uphill (-eta).
TEST(OrthogonalRiemannian, FirstOrderDescent) {
  const WorkingPrecision precision(256);
  const Index d = 6;
  const Tensor<double> x = stiefel_point(d, d, 31), a = normal(d, d, 32, "A"), y = normal(d, d, 33, "Y");
  const auto f = [&](const auto& xm) {
    const Tensor<mp_real> ax = product(a, xm);
    mp_real s(0);
    for (Index i = 0; i < ax.count(); ++i) s += (ax[i] - mp_real(y[i])) * (ax[i] - mp_real(y[i]));
    return s / 2;
  };
  Tensor<double> g(Shape{d, d});
  {
    Tensor<mp_real> res = product(a, x);
    for (Index i = 0; i < res.count(); ++i) res[i] -= mp_real(y[i]);
    const Tensor<mp_real> gm = product(a, res, true);
    for (Index i = 0; i < g.count(); ++i) g[i] = to_double(gm[i]);
  }
  const Tensor<mp_real> omega = reference::riemannian_omega<mp_real>(RiemannianProblem<double>(x, g));
  mp_real w2(0);
  for (Index i = 0; i < omega.count(); ++i) w2 += omega[i] * omega[i];
  const mp_real f0 = f(x);
  // gscale 2: Omega of 2G (a missing 1/2); sign -1: uphill.
  const auto ratio = [&](Retraction r, double gscale, double sign) {
    Tensor<double> gg = g;
    for (Index i = 0; i < gg.count(); ++i) gg[i] *= gscale;
    const auto rem = [&](double eta) {
      const Tensor<mp_real> next = reference::rgd_step<mp_real>(RgdStepProblem<double>(RiemannianProblem<double>(x, gg), sign * eta, r));
      return f0 - f(next) - mp_real(eta) * w2;
    };
    const double eta = std::ldexp(1.0, -10);
    return to_double(rem(eta) / rem(eta / 2));
  };
  for (const Retraction r : {Retraction::exp, Retraction::cayley}) {
    const double ok = ratio(r, 1, 1), no_half = ratio(r, 2, 1), uphill = ratio(r, 1, -1);
    std::printf("%s: r(eta)/r(eta/2) = %.6f; without the 1/2: %.6f; uphill: %.6f\n",
                r == Retraction::exp ? "exp" : "cayley", ok, no_half, uphill);
    EXPECT_NEAR(ok, 4.0, 0.05);
    EXPECT_GT(std::fabs(no_half - 4.0), 1.0);
    EXPECT_GT(std::fabs(uphill - 4.0), 1.0);
  }
}

// covers: ORTH-RGRAD-CPU ORTH-RGD-EXP-CPU ORTH-RGD-CAYLEY-CPU ORTH-RGRAD-BOUND ORTH-RGD-BOUND ORTH-RGD-SCALING
// The backends within their own bounds and the any-order bound beyond the default sizes (d = 16, a
// Stiefel 20 x 6, a long exp step with s > 0), the bounds not vacuous.
TEST(OrthogonalRiemannian, CpuWithinOwnBoundsBeyondTheDefaults) {
  const WorkingPrecision precision(256);
  struct Case {
    Index N, M;
    double eta;
  };
  for (const Case c : {Case{16, 16, 0.05}, Case{20, 6, 0.2}, Case{6, 6, 3.0}}) {
    const RiemannianProblem<double> base(stiefel_point(c.N, c.M, 41), normal(c.N, c.M, 42, "G"));
    const Tensor<mp_real> omega = reference::riemannian_omega<mp_real>(base), grad = reference::riemannian_grad<mp_real>(base);
    for (const Format f : {Format::float32, Format::float64}) {
      const auto got = f == Format::float32 ? cpu::riemannian_grad(base.cast<float>()) : cpu::RiemannianGrad<float>{};
      const auto got64 = cpu::riemannian_grad(base);
      const RiemannianGradBound own = riemannian_grad_bound(base, OrthArithmetic{f, false});
      const RiemannianGradBound any = riemannian_grad_bound(base, OrthArithmetic{f, true});
      double worst = 0;
      for (Index i = 0; i < omega.count(); ++i) {
        const double v = f == Format::float32 ? got.omega[i] : got64.omega[i];
        const double err = std::fabs(to_double(mp_real(v) - omega[i]));
        ASSERT_LE(err, own.omega[i]) << i;
        ASSERT_LE(own.omega[i], any.omega[i]) << i;
        if (own.omega[i] > 0) worst = std::max(worst, err / own.omega[i]);
      }
      for (Index i = 0; i < grad.count(); ++i) {
        const double v = f == Format::float32 ? got.grad[i] : got64.grad[i];
        const double err = std::fabs(to_double(mp_real(v) - grad[i]));
        ASSERT_LE(err, own.grad[i]) << i;
        ASSERT_LE(own.grad[i], any.grad[i]) << i;
        worst = std::max(worst, err / own.grad[i]);
      }
      EXPECT_GT(worst, kVacuousRatio);
      for (const Retraction r : {Retraction::exp, Retraction::cayley}) {
        const RgdStepProblem<double> p(base, c.eta, r);
        const Tensor<mp_real> next = reference::rgd_step<mp_real>(p);
        Tensor<double> y(next.shape());
        if (f == Format::float32) {
          const Tensor<float> t = cpu::rgd_step(p.cast<float>());
          for (Index i = 0; i < y.count(); ++i) y[i] = t[i];
        } else {
          y = cpu::rgd_step(p);
        }
        const Tensor<double> ownb = rgd_step_bound(p, OrthArithmetic{f, false}), anyb = rgd_step_bound(p, OrthArithmetic{f, true});
        double w = 0;
        for (Index i = 0; i < y.count(); ++i) {
          const double err = std::fabs(to_double(mp_real(y[i]) - next[i]));
          ASSERT_LE(err, ownb[i]) << i;
          ASSERT_LE(ownb[i], anyb[i]) << i;
          w = std::max(w, err / ownb[i]);
        }
        std::printf("rgd %s N=%lld M=%lld eta=%g %s: err/bound %.3g (s = %d)\n", r == Retraction::exp ? "exp" : "cayley",
                    static_cast<long long>(c.N), static_cast<long long>(c.M), c.eta, f == Format::float32 ? "f32" : "f64", w,
                    order::rgd_scaling([&](Index i, Index k) { return base.x()(i, k); },
                                       [&](Index i, Index k) { return base.g()(i, k); }, c.eta, c.N, c.M)
                        .s);
        EXPECT_GT(w, kVacuousRatio);
      }
    }
  }
}

// covers: ORTH-RGD-CONVENTIONS
// diff passes the oracle's step rounded to float32 and fails the wrong conventions: the step uphill
// (X exp(+eta Omega)), the other retraction (they differ at O(eta^3)), Omega without the 1/2, and the
// first-order update X - eta grad (off the manifold at O(eta^2)). Bad input names its argument.
TEST(OrthogonalRiemannian, DiffFailsWrongConventions) {
  const WorkingPrecision precision(256);
  const Tensor<double> x = stiefel_point(6, 6, 51), g = normal(6, 6, 52, "G");
  const double eta = 0.25;
  Tensor<double> e(Shape{}, eta);
  const Arrays in{{"X", x}, {"G", g}, {"eta", e}};
  const auto rounded = [](const Tensor<mp_real>& m) {
    Tensor<double> d(m.shape());
    for (Index i = 0; i < m.count(); ++i) d[i] = round_to_format(to_double(m[i]), Format::float32);
    return d;
  };
  const auto step = [&](Retraction r, double eta_used, double gscale) {
    Tensor<double> gg = g;
    for (Index i = 0; i < gg.count(); ++i) gg[i] *= gscale;
    return rounded(reference::rgd_step<mp_real>(RgdStepProblem<double>(RiemannianProblem<double>(x, gg), eta_used, r)));
  };
  const Tensor<mp_real> grad = reference::riemannian_grad<mp_real>(RiemannianProblem<double>(x, g));
  Tensor<double> euler(x.shape());
  for (Index i = 0; i < x.count(); ++i) euler[i] = round_to_format(x[i] - eta * to_double(grad[i]), Format::float32);
  for (const Retraction r : {Retraction::exp, Retraction::cayley}) {
    const std::string name = r == Retraction::exp ? "orthogonal.rgd_exp_step" : "orthogonal.rgd_cayley_step";
    const Retraction other = r == Retraction::exp ? Retraction::cayley : Retraction::exp;
    EXPECT_EQ(diff_verdict(name, in, {{"X_next", step(r, eta, 1)}}), Verdict::pass) << name;
    EXPECT_EQ(diff_verdict(name, in, {{"X_next", step(r, -eta, 1)}}), Verdict::fail) << name << " uphill";
    EXPECT_EQ(diff_verdict(name, in, {{"X_next", step(other, eta, 1)}}), Verdict::fail) << name << " other retraction";
    EXPECT_EQ(diff_verdict(name, in, {{"X_next", step(r, eta, 2)}}), Verdict::fail) << name << " no 1/2";
    EXPECT_EQ(diff_verdict(name, in, {{"X_next", euler}}), Verdict::fail) << name << " X - eta grad";
  }
  const Tensor<mp_real> omega = reference::riemannian_omega<mp_real>(RiemannianProblem<double>(x, g));
  const Tensor<double> om = rounded(omega), gr = rounded(grad);
  Tensor<double> om_t(om.shape());
  for (Index i = 0; i < 6; ++i)
    for (Index k = 0; k < 6; ++k) om_t(i, k) = om(k, i);
  EXPECT_EQ(diff_verdict("orthogonal.riemannian_grad", {{"X", x}, {"G", g}}, {{"Omega", om}, {"grad", gr}}), Verdict::pass);
  EXPECT_EQ(diff_verdict("orthogonal.riemannian_grad", {{"X", x}, {"G", g}}, {{"Omega", om_t}, {"grad", gr}}), Verdict::fail);
  // Bad input: the argument named.
  const auto names = [](const auto& f) {
    try {
      f();
    } catch (const InvalidInput& err) {
      return err.argument();
    }
    return std::string("(nothing thrown)");
  };
  EXPECT_EQ(names([&] { RiemannianProblem<double>(normal(3, 5, 1, "wide"), normal(3, 5, 2, "wide")); }), "X");
  EXPECT_EQ(names([&] { RiemannianProblem<double>(x, normal(6, 5, 2, "g")); }), "G");
  Tensor<double> bad = g;
  bad[3] = std::nan("");
  EXPECT_EQ(names([&] { RiemannianProblem<double>(x, bad); }), "G");
  EXPECT_EQ(names([&] { RgdStepProblem<double>(RiemannianProblem<double>(x, g), INFINITY, Retraction::exp); }), "eta");
}

// covers: ORTH-QR-VJP ORTH-QR-VJP-CPU ORTH-QR-VJP-BOUND
// The QR retraction's VJP oracle against central differences of the forward oracle (qf on Y +- h E at
// 256 bits, h = 2^-40: truncation ~h^2, relative 1e-24), on tall, square and near-square Y; wrong
// VJPs fail the same comparison: S = Q^T G without the mirroring (the full product), R^-1 in place of
// R^-T, and G R^-T alone (no Q S term). The backends within their own and the any-order bound, not
// vacuous; diff passes the oracle rounded and fails the unmirrored variant.
TEST(OrthogonalQfVjp, MatchesCentralDifferencesOfTheForward) {
  const WorkingPrecision precision(256);
  struct Case {
    Index m, n;
  };
  for (const Case c : {Case{8, 4}, Case{5, 5}, Case{7, 6}}) {
    const Tensor<double> y = normal(c.m, c.n, 61, "qfY", Format::float32), g = normal(c.m, c.n, 62, "qfG");
    const QfBackwardProblem<double> p(QfProblem<double>(y), g);
    const Tensor<mp_real> dy = reference::qf_vjp<mp_real>(p);
    const reference::QrFactors<mp_real> f = reference::qr_factors(reference::exact_skew<mp_real>(y));
    // The wrong variants, from the same factors.
    const auto variant = [&](int which) {
      const Index m = c.m, n = c.n;
      Tensor<mp_real> b(Shape{n, n}, mp_real(0));
      for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < n; ++j)
          for (Index k = 0; k < m; ++k) b(i, j) += f.q(k, i) * mp_real(g(k, j));
      Tensor<mp_real> out(Shape{m, n});
      for (Index r = 0; r < m; ++r) {
        std::vector<mp_real> w(static_cast<std::size_t>(n));
        for (Index j = 0; j < n; ++j) {
          w[j] = mp_real(g(r, j));
          if (which != 2)
            for (Index i = 0; i < n; ++i) w[j] -= f.q(r, i) * (which == 0 ? b(i, j) : (i <= j ? b(i, j) : b(j, i)));
        }
        if (which == 1) {  // x R = w: forward substitution with R (R^-1 in place of R^-T)
          for (Index j = 0; j < n; ++j) {
            for (Index k = 0; k < j; ++k) w[j] -= f.r(k, j) * w[k];
            w[j] /= f.r(j, j);
          }
        } else {
          for (Index j = n - 1; j >= 0; --j) {
            for (Index k = j + 1; k < n; ++k) w[j] -= f.r(j, k) * w[k];
            w[j] /= f.r(j, j);
          }
        }
        for (Index j = 0; j < n; ++j) out(r, j) = w[j];
      }
      return out;
    };
    // <dY, E> against (<G, qf(Y + h E)> - <G, qf(Y - h E)>) / 2h for three directions E.
    const mp_real h = ldexp(mp_real(1), -40);
    const auto mismatch = [&](const Tensor<mp_real>& cand, std::uint64_t dir) {
      const Tensor<double> e = normal(c.m, c.n, 70 + dir, "qfE");
      Tensor<mp_real> plus(y.shape()), minus(y.shape());
      for (Index i = 0; i < y.count(); ++i) plus[i] = mp_real(y[i]) + h * mp_real(e[i]), minus[i] = mp_real(y[i]) - h * mp_real(e[i]);
      const Tensor<mp_real> qp = reference::qf_matrix(plus), qm = reference::qf_matrix(minus);
      mp_real fd(0), lin(0), scale(0);
      for (Index i = 0; i < y.count(); ++i) {
        fd += mp_real(g[i]) * (qp[i] - qm[i]);
        lin += cand[i] * mp_real(e[i]);
        scale += abs(cand[i] * mp_real(e[i]));
      }
      return to_double(abs(lin - fd / (2 * h)) / scale);
    };
    double worst_ok = 0, best_wrong = 1e300;
    for (std::uint64_t dir = 0; dir < 3; ++dir) {
      worst_ok = std::max(worst_ok, mismatch(dy, dir));
      for (int which : {0, 1, 2}) best_wrong = std::min(best_wrong, mismatch(variant(which), dir));
    }
    std::printf("qf_vjp m=%lld n=%lld: central-difference mismatch %.3g, wrong variants at least %.3g\n",
                static_cast<long long>(c.m), static_cast<long long>(c.n), worst_ok, best_wrong);
    EXPECT_LT(worst_ok, test_inputs::kCentralDifferenceTolerance);
    EXPECT_GT(best_wrong, test_inputs::kCentralDifferenceTolerance);  // the same comparison fails them
    for (const Format fm : {Format::float32, Format::float64}) {
      Tensor<double> got(dy.shape());
      if (fm == Format::float32) {
        const Tensor<float> t = cpu::qf_vjp(p.cast<float>());
        for (Index i = 0; i < got.count(); ++i) got[i] = t[i];
      } else {
        got = cpu::qf_vjp(p);
      }
      const Tensor<double> own = qf_vjp_bound(p, OrthArithmetic{fm, false}), any = qf_vjp_bound(p, OrthArithmetic{fm, true});
      double worst = 0;
      for (Index i = 0; i < got.count(); ++i) {
        const double err = std::fabs(to_double(mp_real(got[i]) - dy[i]));
        ASSERT_LE(err, own[i]) << i;
        ASSERT_LE(own[i], any[i]) << i;
        worst = std::max(worst, err / own[i]);
      }
      std::printf("qf_vjp m=%lld n=%lld %s: err/bound %.3g\n", static_cast<long long>(c.m), static_cast<long long>(c.n),
                  fm == Format::float32 ? "f32" : "f64", worst);
      EXPECT_GT(worst, kVacuousRatio);
    }
    const auto rounded = [](const Tensor<mp_real>& t) {
      Tensor<double> d(t.shape());
      for (Index i = 0; i < t.count(); ++i) d[i] = round_to_format(to_double(t[i]), Format::float32);
      return d;
    };
    EXPECT_EQ(diff_verdict("orthogonal.qf_backward", {{"Y", y}, {"dQ", g}}, {{"dY", rounded(dy)}}), Verdict::pass);
    EXPECT_EQ(diff_verdict("orthogonal.qf_backward", {{"Y", y}, {"dQ", g}}, {{"dY", rounded(variant(0))}}), Verdict::fail);
  }
}
