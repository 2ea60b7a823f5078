// The bilevel family's logistic class (spec/bilevel.md [BILEVEL-LOGISTIC-DEF] and after): the
// MPFR oracle against Boost's forward-mode autodiff over MPFR, the first-order shortcut and UFOM's
// identities, the three exact methods against each other, step counts, every backend within its
// bound (saturated sigmoids included), Hessian-vector products, bad input, and wrong answers that
// `diff` must FAIL. Every checker here is also fed a wrong answer and seen to reject it.
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
#include "touchstone/reference/jet.hpp"

using namespace touchstone;
using namespace touchstone::bilevel;
using Jet = touchstone::mamba::reference::Jet;

// The elementary functions of the logistic class on Boost's autodiff over MPFR: value and slope
// from MPFR (Boost 1.74's own exp does not compile for an MPFR number).
namespace touchstone::bilevel::reference {
template <>
struct LogisticMath<Jet> {
  static Jet exp(const Jet& x) {
    const mp_real e = boost::multiprecision::exp(x.derivative(0));
    return mamba::reference::jets::from_value_and_slope(x, e, e);
  }
  static Jet sigmoid(const Jet& z) {
    const mp_real s = LogisticMath<mp_real>::sigmoid(z.derivative(0));
    return mamba::reference::jets::from_value_and_slope(z, s, s * (1 - s));
  }
  static Jet softplus(const Jet& z) {
    const mp_real v = z.derivative(0);
    return mamba::reference::jets::from_value_and_slope(z, LogisticMath<mp_real>::softplus(v),
                                                        LogisticMath<mp_real>::sigmoid(v));
  }
};
}  // namespace touchstone::bilevel::reference

namespace {

using L = LogisticProblem<double>;

// n training and m validation samples of dimension d, labels drawn from the model
// y = [u < sigmoid(x . w_true)], regularizers exp(theta) with theta in [lo, hi]; `scale` multiplies
// the inputs (scale 30 saturates most sigmoids). Every value a float32.
L make_logistic(Index n, Index m, Index d, Index r, double alpha, std::uint64_t seed, double lo = -2,
                double hi = 1, double scale = 1) {
  PhiloxStream g(seed, "logistic_test/data"), t(seed, "logistic_test/theta"), u(seed, "logistic_test/labels");
  auto fill = [&](Shape shape, double s) {
    Tensor<double> x(std::move(shape));
    for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(s * g.next_normal(), Format::float32);
    return x;
  };
  const Tensor<double> ws = fill(Shape{d}, 1.0), X = fill(Shape{n, d}, scale), Xv = fill(Shape{m, d}, scale);
  auto labels = [&](const Tensor<double>& A) {
    Tensor<double> y(Shape{A.extent(0)});
    for (Index i = 0; i < A.extent(0); ++i) {
      double z = 0;
      for (Index k = 0; k < d; ++k) z += A(i, k) * ws[k];
      y[i] = u.next_uniform() < 1 / (1 + std::exp(-z)) ? 1.0 : 0.0;
    }
    return y;
  };
  Tensor<double> theta(Shape{d});
  for (Index k = 0; k < d; ++k) theta[k] = round_to_format(t.next_uniform(lo, hi), Format::float32);
  return L({X, labels(X), Xv, labels(Xv), fill(Shape{d}, 0.1), theta, round_to_format(alpha, Format::float32), r});
}
L with_steps(const L& p, Index r) {
  const auto& in = p.in();
  return L({in.X, in.y, in.X_val, in.y_val, in.w0, in.theta, in.alpha, r});
}

double relative_difference(const Tensor<mp_real>& x, const Tensor<mp_real>& y) {
  mp_real diff(0), scale(0);
  for (Index i = 0; i < x.count(); ++i) {
    diff = std::max(diff, mp_real(abs(x[i] - y[i])));
    scale = std::max(scale, mp_real(abs(y[i])));
  }
  if (scale == 0) return diff == 0 ? 0.0 : INFINITY;
  return to_double(diff / scale);
}

Tensor<double> as_doubles(const Tensor<mp_real>& x) {
  Tensor<double> out(x.shape());
  for (Index i = 0; i < x.count(); ++i) out[i] = touchstone::to_double(x[i]);
  return out;
}

constexpr double kAgree = 0x1p-200;  // 256-bit computations of a few thousand roundings

// dM/dtheta by Boost's forward-mode autodiff over MPFR: M on theta + epsilon e_t, t = 0 .. dim-1.
Tensor<mp_real> autodiff_hypergradient(const L& p) {
  const Jet epsilon = boost::math::differentiation::make_fvar<mp_real, 1>(mp_real(0));
  Tensor<mp_real> out(Shape{p.dim()});
  for (Index t = 0; t < p.dim(); ++t) {
    std::vector<Jet> theta;
    for (Index k = 0; k < p.dim(); ++k) theta.push_back(Jet(mp_real(p.in().theta[k])) + (k == t ? epsilon : Jet(0)));
    out[t] = reference::logistic_outer_loss<Jet>(p, theta).derivative(1);
  }
  return out;
}

// The oracle's reverse mode equals forward-mode autodiff of the unrolled loop at 256 bits; the
// same comparison rejects the hypergradient with one step dropped and the first-order shortcut.
// covers: BILEVEL-LOGISTIC-DEF
TEST(BilevelLogistic, OracleEqualsAutodiff) {
  const WorkingPrecision wp(256);
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    const Index r = static_cast<Index>(seed) * 2;
    const L p = make_logistic(6 + static_cast<Index>(seed), 5, 1 + static_cast<Index>(seed % 4), r, 0.3, seed);
    const Tensor<mp_real> E = reference::logistic_hypergradient<mp_real>(p), ad = autodiff_hypergradient(p);
    if (r == 0) {
      EXPECT_EQ(relative_difference(E, ad), 0.0);  // w_0 does not depend on theta: both 0
      continue;
    }
    EXPECT_LE(relative_difference(E, ad), kAgree) << "seed " << seed;
    EXPECT_GT(relative_difference(reference::logistic_hypergradient<mp_real>(with_steps(p, r - 1)), ad), 1e-6);
    if (r > 1) {
      EXPECT_GT(relative_difference(reference::logistic_fom<mp_real>(p), ad), 1e-6);
    }
  }
}

// FOM: 0 at r = 0, equal to E at r = 1 (no Hessian enters), different beyond; UFOM: the coin's
// expectation is E and its second moment |E|^2 + (1/q - 1)|E - F|^2, by enumeration, at 256 bits;
// q = 1 gives E, xi = 0 gives F. Each identity is also seen to fail for a wrong weight (1/q dropped).
// covers: BILEVEL-LOGISTIC-FOM BILEVEL-LOGISTIC-UFOM
TEST(BilevelLogistic, FomAndUfomIdentities) {
  const WorkingPrecision wp(256);
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    const L p0 = make_logistic(8, 6, 3, 0, 0.2, 100 + seed);
    for (Index k = 0; k < 3; ++k) EXPECT_EQ(reference::logistic_fom<mp_real>(p0)[k], 0);
    const L p1 = with_steps(p0, 1);
    EXPECT_LE(relative_difference(reference::logistic_fom<mp_real>(p1), reference::logistic_hypergradient<mp_real>(p1)),
              kAgree);
    const L p = with_steps(p0, 6);
    const Tensor<mp_real> E = reference::logistic_hypergradient<mp_real>(p), F = reference::logistic_fom<mp_real>(p);
    EXPECT_GT(relative_difference(F, E), 1e-4);
    for (double q : {0.1, 0.25, 0.6, 1.0}) {
      const Tensor<mp_real> g0 = reference::logistic_ufom<mp_real>(LogisticUfomProblem<double>(p, q, 0));
      const Tensor<mp_real> g1 = reference::logistic_ufom<mp_real>(LogisticUfomProblem<double>(p, q, 1));
      Tensor<mp_real> mean(Shape{3}), wrong(Shape{3});
      mp_real moment(0), expected(0);
      for (Index k = 0; k < 3; ++k) {
        mean[k] = (1 - mp_real(q)) * g0[k] + mp_real(q) * g1[k];
        wrong[k] = (1 - mp_real(q)) * g0[k] + mp_real(q) * (F[k] + (E[k] - F[k]));  // without 1/q
        moment += (1 - mp_real(q)) * g0[k] * g0[k] + mp_real(q) * g1[k] * g1[k];
        expected += E[k] * E[k] + (1 / mp_real(q) - 1) * (E[k] - F[k]) * (E[k] - F[k]);
      }
      EXPECT_LE(relative_difference(mean, E), kAgree) << "q " << q;
      EXPECT_LE(to_double(abs(moment - expected) / expected), kAgree) << "q " << q;
      EXPECT_EQ(relative_difference(g0, F), 0.0);
      if (q == 1.0) {
        EXPECT_LE(relative_difference(g1, E), kAgree);
      } else {
        EXPECT_GT(relative_difference(wrong, E), 1e-6) << "q " << q;
      }
    }
  }
}

// Stored = recomputation bit for bit, forward within the two bounds, the step counts, and every
// backend (exact three ways, FOM, UFOM with both coins) within its bound in float32 and float64 over
// step sizes, regularizers from 0.02 to 20, r up to 10 and inputs scaled by 30 (saturated sigmoids).
// covers: BILEVEL-LOGISTIC-CPU BILEVEL-LOGISTIC-BOUND BILEVEL-RECOMPUTE-COST
TEST(BilevelLogistic, MethodsAgreeCountsAndBounds) {
  const WorkingPrecision wp(256);
  std::uint64_t seed = 40;
  double worst = 0, worst_fom = 0, worst_ufom = 0;
  for (double alpha : {0.1, 0.5})
    for (Index r : {0, 1, 4, 10})
      for (double scale : {1.0, 30.0}) {
        const double lo = scale > 1 ? -4.0 : 0.0;
        const L p = make_logistic(10, 7, 3, r, scale > 1 ? alpha / 100 : alpha, seed++, lo, lo + 3, scale);
        const Tensor<mp_real> E = reference::logistic_hypergradient<mp_real>(p), F = reference::logistic_fom<mp_real>(p);
        const LogisticUfomProblem<double> u(p, 0.25, 1);
        const Tensor<mp_real> G = reference::logistic_ufom<mp_real>(u);
        for (Format f : {Format::float32, Format::float64}) {
          const bool f32 = f == Format::float32;
          auto run = [&](order::Method m, order::Counts* c) {
            return f32 ? as_double(cpu::logistic_hypergradient(p.cast<float>(), m, c)) : cpu::logistic_hypergradient(p, m, c);
          };
          order::Counts cs, cr, cf, cfom;
          const Tensor<double> s = run(order::Method::stored, &cs), rc = run(order::Method::recompute, &cr),
                               fw = run(order::Method::forward, &cf);
          const Tensor<double> fom = f32 ? as_double(cpu::logistic_fom(p.cast<float>(), &cfom)) : cpu::logistic_fom(p, &cfom);
          const Tensor<double> uf = f32 ? as_double(cpu::logistic_ufom(u.cast<float>())) : cpu::logistic_ufom(u);
          EXPECT_EQ(cs.inner_steps, r);
          EXPECT_EQ(cr.inner_steps, r * (r + 1) / 2);
          EXPECT_EQ(cf.inner_steps, r);
          EXPECT_EQ(cs.hvps, r);
          EXPECT_EQ(cf.hvps, r * 3);
          EXPECT_EQ(cfom.inner_steps, r);
          EXPECT_EQ(cfom.hvps, 0);
          const auto m = bilevel_arithmetic_cpu(f);
          const Tensor<double> bs = logistic_hypergradient_bound(p, order::Method::stored, m),
                               bf = logistic_hypergradient_bound(p, order::Method::forward, m),
                               bfom = logistic_fom_bound(p, m), bu = logistic_ufom_bound(u, m);
          for (Index i = 0; i < p.dim(); ++i) {
            EXPECT_EQ(s[i], rc[i]);
            ASSERT_TRUE(std::isfinite(bs[i]) && std::isfinite(bf[i]) && std::isfinite(bfom[i]) && std::isfinite(bu[i]));
            const double es = std::fabs(to_double(mp_real(s[i]) - E[i])), ef = std::fabs(to_double(mp_real(fw[i]) - E[i]));
            const double efom = std::fabs(to_double(mp_real(fom[i]) - F[i]));
            const double eu = std::fabs(to_double(mp_real(uf[i]) - G[i]));
            const std::string where = std::string(f32 ? "f32" : "f64") + " alpha " + std::to_string(alpha) + " r " +
                                      std::to_string(r) + " scale " + std::to_string(scale);
            EXPECT_LE(es, bs[i]) << where;
            EXPECT_LE(ef, bf[i]) << where;
            EXPECT_LE(efom, bfom[i]) << where;
            EXPECT_LE(eu, bu[i]) << where;
            if (bs[i] > 0) worst = std::max(worst, es / bs[i]);
            if (bfom[i] > 0) worst_fom = std::max(worst_fom, efom / bfom[i]);
            if (bu[i] > 0) worst_ufom = std::max(worst_ufom, eu / bu[i]);
          }
        }
      }
  std::printf("  logistic: largest err/bound stored %.3g, fom %.3g, ufom %.3g\n", worst, worst_fom, worst_ufom);
  EXPECT_GT(worst, kVacuousRatio);  // [CORE-TIGHTNESS-FLOOR]
  EXPECT_GT(worst_fom, kVacuousRatio);
  EXPECT_GT(worst_ufom, kVacuousRatio);
}

Arrays logistic_inputs(const L& p) {
  const auto& in = p.in();
  return {{"X", in.X},         {"y", in.y},         {"X_val", in.X_val},
          {"y_val", in.y_val}, {"w0", in.w0},       {"theta", in.theta},
          {"alpha", Tensor<double>(Shape{}, in.alpha)}, {"r", Tensor<double>(Shape{}, static_cast<double>(in.r))}};
}
Arrays grad(Tensor<double> t) {
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(t[i], Format::float32);
  return {{"grad", t}};
}

// `diff` on the logistic entries: touchstone's float32 answers pass; one step dropped, FOM passed
// off as E (and E as FOM), a 1% scaled answer, one element off by 1% of the largest, NaN, UFOM
// without 1/q, and the ridge class's answer (the squared loss in place of the cross-entropy) FAIL.
// covers: BILEVEL-LOGISTIC-DIFF
TEST(BilevelLogistic, WrongAnswersFail) {
  using test_support::diff_verdict;
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const L p = make_logistic(12, 8, 4, 6, 0.3, 700 + seed);
    const Arrays in = logistic_inputs(p);
    const Tensor<double> E = reference::logistic_hypergradient<double>(p), F = reference::logistic_fom<double>(p);
    for (const char* entry :
         {"bilevel.logistic.exact_stored", "bilevel.logistic.exact_recompute", "bilevel.logistic.exact_forward"}) {
      auto verdict = [&](const Tensor<double>& t) { return diff_verdict(entry, in, grad(t), {}, 4); };
      EXPECT_EQ(verdict(as_double(cpu::logistic_hypergradient(p.cast<float>(), order::Method::stored))), Verdict::pass)
          << entry;
      EXPECT_EQ(verdict(as_double(cpu::logistic_hypergradient(p.cast<float>(), order::Method::forward))), Verdict::pass)
          << entry;
      EXPECT_EQ(verdict(E), Verdict::pass) << entry;
      EXPECT_EQ(verdict(reference::logistic_hypergradient<double>(with_steps(p, 5))), Verdict::fail) << entry;
      EXPECT_EQ(verdict(F), Verdict::fail) << entry << ": FOM as the exact hypergradient";
      Tensor<double> scaled = E, off = E, nan = E;
      double largest = 0;
      for (Index i = 0; i < E.count(); ++i) {
        scaled[i] *= 1.01;
        largest = std::max(largest, std::fabs(E[i]));
      }
      off[2] += 0.01 * largest;
      nan[1] = NAN;
      EXPECT_EQ(verdict(scaled), Verdict::fail) << entry;
      EXPECT_EQ(verdict(off), Verdict::fail) << entry;
      EXPECT_NE(verdict(nan), Verdict::pass) << entry;
      EXPECT_EQ(verdict(reference::ridge_hypergradient<double>(p)), Verdict::fail) << entry << ": the squared loss";
    }
    auto fom_verdict = [&](const Tensor<double>& t) { return diff_verdict("bilevel.logistic.fom", in, grad(t), {}, 4); };
    EXPECT_EQ(fom_verdict(as_double(cpu::logistic_fom(p.cast<float>()))), Verdict::pass);
    EXPECT_EQ(fom_verdict(F), Verdict::pass);
    EXPECT_EQ(fom_verdict(E), Verdict::fail) << "E as FOM";
    Arrays uin = in;
    uin["q"] = Tensor<double>(Shape{}, 0.25);
    uin["xi"] = Tensor<double>(Shape{}, 1.0);
    auto ufom_verdict = [&](const Tensor<double>& t) { return diff_verdict("bilevel.logistic.ufom", uin, grad(t), {}, 4); };
    const LogisticUfomProblem<double> u(p, 0.25, 1);
    EXPECT_EQ(ufom_verdict(as_double(cpu::logistic_ufom(u.cast<float>()))), Verdict::pass);
    Tensor<double> no_weight = F;  // F + xi (E - F) = E: the 1/q left out
    for (Index i = 0; i < F.count(); ++i) no_weight[i] = F[i] + (E[i] - F[i]);
    EXPECT_EQ(ufom_verdict(no_weight), Verdict::fail);
    EXPECT_EQ(ufom_verdict(F), Verdict::fail) << "xi = 1 answered by F";
  }
}

// H(w) v: the oracle equals the product with the Hessian X^T diag(s') X / n + diag(lambda) formed
// first (another association) at 256 bits; the backends are within their bounds; `diff` passes
// their float32 answers and fails the ridge's H v (no sigmoid'), H v without the regularizer, and
// H v at another point w.
// covers: BILEVEL-HVP-DEF BILEVEL-LOGISTIC-BOUND
TEST(BilevelLogistic, HessianVectorProducts) {
  const WorkingPrecision wp(256);
  using H = HvpProblem<L>;
  double worst = 0;
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    const L base = make_logistic(9, 3, 4, 0, 0.1, 60 + seed, -2, 1, seed % 2 ? 3.0 : 1.0);
    Tensor<double> v(Shape{4}), w(Shape{4});
    for (Index k = 0; k < 4; ++k) {
      v[k] = round_to_format(0.5 - 0.3 * static_cast<double>(k), Format::float32);
      w[k] = round_to_format(0.7 - 0.4 * static_cast<double>(k), Format::float32);
    }
    const auto& bi = base.in();
    const L p({bi.X, bi.y, bi.X_val, bi.y_val, w, bi.theta, 0.1, 0});
    const H h(p, v);
    const Tensor<mp_real> hv = reference::hvp<mp_real>(h);
    // The Hessian formed first.
    Tensor<mp_real> formed(Shape{4}, mp_real(0));
    for (Index a = 0; a < 4; ++a)
      for (Index b = 0; b < 4; ++b) {
        mp_real hab(0);
        for (Index i = 0; i < 9; ++i) {
          mp_real z(0);
          for (Index k = 0; k < 4; ++k) z += mp_real(bi.X(i, k)) * mp_real(w[k]);
          const mp_real s = 1 / (1 + exp(-z));
          hab += mp_real(bi.X(i, a)) * s * (1 - s) * mp_real(bi.X(i, b));
        }
        hab /= 9;
        if (a == b) hab += exp(mp_real(bi.theta[a]));
        formed[a] += hab * mp_real(v[b]);
      }
    EXPECT_LE(relative_difference(hv, formed), kAgree);
    for (Format f : {Format::float32, Format::float64}) {
      const Tensor<double> got = f == Format::float32 ? as_double(cpu::hvp(h.cast<float>())) : cpu::hvp(h);
      const Tensor<double> b = hvp_bound(h, bilevel_arithmetic_cpu(f));
      for (Index k = 0; k < 4; ++k) {
        const double err = std::fabs(to_double(mp_real(got[k]) - hv[k]));
        EXPECT_LE(err, b[k]);
        if (b[k] > 0) worst = std::max(worst, err / b[k]);
      }
    }
    const Arrays in{{"X", bi.X}, {"theta", bi.theta}, {"w", w}, {"v", v}};
    auto verdict = [&](const Tensor<double>& t) { return test_support::diff_verdict("bilevel.logistic.hvp", in, {{"hv", t}}, {}, 4); };
    EXPECT_EQ(verdict(as_double(cpu::hvp(h.cast<float>()))), Verdict::pass);
    const RidgeProblem<double> rp({bi.X, bi.y, bi.X, bi.y, w, bi.theta, 0.1, 0});
    EXPECT_EQ(verdict(reference::hvp<double>(HvpProblem<RidgeProblem<double>>(rp, v))), Verdict::fail) << "no sigmoid'";
    Tensor<double> no_reg = as_doubles(hv);
    for (Index k = 0; k < 4; ++k) no_reg[k] -= std::exp(bi.theta[k]) * v[k];
    EXPECT_EQ(verdict(no_reg), Verdict::fail) << "no regularizer";
    const L moved({bi.X, bi.y, bi.X_val, bi.y_val, v, bi.theta, 0.1, 0});
    EXPECT_EQ(verdict(as_doubles(reference::hvp<mp_real>(H(moved, v)))), Verdict::fail) << "at another w";
  }
  std::printf("  logistic hvp: largest err/bound %.3g\n", worst);
  EXPECT_GT(worst, kVacuousRatio);
}

// Labels outside [0, 1], a bad coin or probability, a v of the wrong shape: InvalidInput naming it.
// covers: BILEVEL-LOGISTIC-DEF BILEVEL-SHAPES
TEST(BilevelLogistic, BadInputIsNamed) {
  auto argument = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const InvalidInput& e) {
      return e.argument();
    }
    return "(accepted)";
  };
  const L p = make_logistic(5, 4, 3, 2, 0.1, 1);
  const auto& in = p.in();
  Tensor<double> y = in.y, yv = in.y_val;
  y[1] = 2;
  yv[0] = -0.5;
  EXPECT_EQ(argument([&] { L({in.X, y, in.X_val, in.y_val, in.w0, in.theta, 0.1, 2}); }), "y");
  EXPECT_EQ(argument([&] { L({in.X, in.y, in.X_val, yv, in.w0, in.theta, 0.1, 2}); }), "y_val");
  y[1] = NAN;
  EXPECT_EQ(argument([&] { L({in.X, y, in.X_val, in.y_val, in.w0, in.theta, 0.1, 2}); }), "y");
  y[1] = 0.5;  // a soft label is a label
  EXPECT_EQ(argument([&] { L({in.X, y, in.X_val, in.y_val, in.w0, in.theta, 0.1, 2}); }), "(accepted)");
  EXPECT_EQ(argument([&] { L({in.X, in.y, Tensor<double>(Shape{4, 2}), in.y_val, in.w0, in.theta, 0.1, 2}); }), "X_val");
  EXPECT_EQ(argument([&] { LogisticUfomProblem<double>(p, 0.0, 1); }), "q");
  EXPECT_EQ(argument([&] { LogisticUfomProblem<double>(p, 0.5, 3); }), "xi");
  EXPECT_EQ(argument([&] { HvpProblem<L>(p, Tensor<double>(Shape{2})); }), "v");
  const Algorithm& a = builtin_registry().get("bilevel.logistic.ufom");
  NpyMap files;
  for (const auto& [name, t] : logistic_inputs(p)) files[name] = test_support::npy(t);
  EXPECT_EQ(argument([&] { a.from_arrays(files, {{"xi", "1"}}); }), "q");
  EXPECT_EQ(argument([&] { a.from_arrays(files, {{"q", "0.5"}, {"xi", "1"}}); }), "(accepted)");
}

}  // namespace
