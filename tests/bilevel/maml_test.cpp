// The bilevel family's MAML sinusoid class (spec/bilevel.md [BILEVEL-MAML-DEF] and after): the MPFR
// oracle (reverse mode with explicit Hessian-vector products) against Boost's forward-mode autodiff
// over MPFR of the unrolled loop, the ReLU kink, the backends within their bounds, and wrong
// answers that `diff` must FAIL.
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

// An autodiff number's sign is its value's ([BILEVEL-MAML-RELU]: relu'(0) = 0 either way).
namespace touchstone::bilevel::reference {
template <>
struct MamlMath<Jet> {
  static bool positive(const Jet& z) { return z.derivative(0) > 0; }
};
}  // namespace touchstone::bilevel::reference

namespace {

using M = MamlProblem<double>;

// The registry's task generator's distributions (amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5],
// PyTorch's Linear initialization), from this test's own streams, every value a float32.
M make_maml(Index h, Index k, Index r, double alpha, std::uint64_t seed) {
  PhiloxStream g(seed, "maml_test/task"), init(seed, "maml_test/init");
  const double amplitude = g.next_uniform(0.1, 5.0), phase = g.next_uniform(0.0, 3.14159265358979323846);
  MamlInputs<double> in;
  auto points = [&](Tensor<double>& x, Tensor<double>& y) {
    x = Tensor<double>(Shape{k});
    y = Tensor<double>(Shape{k});
    for (Index i = 0; i < k; ++i) {
      x[i] = round_to_format(g.next_uniform(-5.0, 5.0), Format::float32);
      y[i] = round_to_format(amplitude * std::sin(x[i] - phase), Format::float32);
    }
  };
  points(in.x_support, in.y_support);
  points(in.x_query, in.y_query);
  const reference::MlpLayout L(h);
  in.theta = Tensor<double>(Shape{mlp_parameter_count(h)});
  for (Index i = 0; i < in.theta.count(); ++i) {
    const double fan_in = i < L.w2 ? 1.0 : static_cast<double>(h);
    in.theta[i] = round_to_format(init.next_uniform(-1.0, 1.0) / std::sqrt(fan_in), Format::float32);
  }
  in.alpha = round_to_format(alpha, Format::float32);
  in.r = r;
  return M(std::move(in));
}
M with_steps(const M& p, Index r) {
  MamlInputs<double> in = p.in();
  in.r = r;
  return M(std::move(in));
}

constexpr double kAgree = 0x1p-200;

// The flat parameters (or a gradient) as the entries' six arrays W1 (h, 1), b1, W2 (h, h), b2,
// W3 (1, h), b3, each name with `prefix`.
Arrays split(const Tensor<double>& flat, Index h, const std::string& prefix) {
  const std::vector<std::pair<const char*, std::vector<Index>>> parts = {
      {"W1", {h, 1}}, {"b1", {h}}, {"W2", {h, h}}, {"b2", {h}}, {"W3", {1, h}}, {"b3", {1}}};
  Arrays out;
  Index offset = 0;
  for (const auto& [name, shape] : parts) {
    Tensor<double> t{Shape(shape)};
    for (Index i = 0; i < t.count(); ++i) t[i] = flat[offset + i];
    offset += t.count();
    out[prefix + name] = std::move(t);
  }
  return out;
}
Arrays grads(const Tensor<double>& flat, Index h) { return split(flat, h, "grad_"); }


// A direction of unit-ish size from Philox.
std::vector<double> direction(Index n, std::uint64_t seed) {
  PhiloxStream g(seed, "maml_test/direction");
  std::vector<double> v;
  for (Index i = 0; i < n; ++i) v.push_back(g.next_normal());
  return v;
}

// E . v against d/deps M(theta + eps v) by Boost's forward-mode autodiff over MPFR (the unrolled
// loop's forward and gradient code only: the Hessian-vector products and the backward recursion
// are not used), at 256 bits; H v against d/deps grad L(phi + eps v) likewise; the same comparison
// rejects one step dropped and FOM.
// covers: BILEVEL-MAML-DEF BILEVEL-MAML-FOM BILEVEL-HVP-DEF
TEST(BilevelMaml, OracleEqualsAutodiff) {
  const WorkingPrecision wp(256);
  const Jet epsilon = boost::math::differentiation::make_fvar<mp_real, 1>(mp_real(0));
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const Index r = static_cast<Index>(seed);
    const M p = make_maml(3 + static_cast<Index>(seed % 2), 4, r, 0.05, seed);
    const std::vector<double> v = direction(p.dim(), seed);
    std::vector<Jet> theta;
    for (Index k = 0; k < p.dim(); ++k) theta.push_back(Jet(mp_real(p.in().theta[k])) + epsilon * mp_real(v[k]));
    const mp_real ad = reference::maml_outer_loss<Jet>(p, theta).derivative(1);
    auto along = [&](const Tensor<mp_real>& g) {
      mp_real s(0);
      for (Index k = 0; k < p.dim(); ++k) s += g[k] * mp_real(v[k]);
      return s;
    };
    const Tensor<mp_real> E = reference::maml_hypergradient<mp_real>(p);
    mp_real scale(0);
    for (Index k = 0; k < p.dim(); ++k) scale += abs(E[k] * mp_real(v[k]));
    EXPECT_LE(touchstone::to_double(abs(along(E) - ad) / scale), kAgree) << "seed " << seed;
    if (r > 0) {
      EXPECT_GT(touchstone::to_double(abs(along(reference::maml_fom<mp_real>(p)) - ad) / scale), 1e-8) << "FOM";
      EXPECT_GT(touchstone::to_double(abs(along(reference::maml_hypergradient<mp_real>(with_steps(p, r - 1))) - ad) / scale),
                1e-8);
    } else {
      EXPECT_LE(touchstone::to_double(abs(along(reference::maml_fom<mp_real>(p)) - ad) / scale), kAgree);  // r = 0: E = F
    }
    // H v of the support loss against autodiff of the gradient.
    const reference::MlpLayout L(p.hidden());
    std::vector<mp_real> phi, vm;
    for (Index k = 0; k < p.dim(); ++k) {
      phi.push_back(mp_real(p.in().theta[k]));
      vm.push_back(mp_real(v[k]));
    }
    const auto hv = reference::mlp_gradient_hvp<mp_real>(L, phi, p.in().x_support, p.in().y_support, &vm).second;
    const auto gj = reference::mlp_gradient_hvp<Jet>(L, theta, p.in().x_support, p.in().y_support, nullptr).first;
    mp_real diff(0), size(0);
    for (Index k = 0; k < p.dim(); ++k) {
      diff = std::max(diff, mp_real(abs(hv[k] - gj[k].derivative(1))));
      size = std::max(size, mp_real(abs(hv[k])));
    }
    EXPECT_LE(touchstone::to_double(diff / size), kAgree);
  }
}

// The ReLU kink ([BILEVEL-MAML-RELU]): a query point x = 1 with W1_0 = 1/2, b1_0 = -1/2 puts the
// first unit's pre-activation at exactly 0 (r = 0, so E = grad L_query(theta)). M is not
// differentiable there: its one-sided difference quotients along b1_0 differ, and the oracle's
// E[b1_0] (relu'(0) = 0) is the left one. The bound cannot tell the computed sign from the exact
// one there: every element is outside its domain, and `diff` judges nothing (INCONCLUSIVE, never
// PASS, for the right answer and a wrong one). Moving b1_0 off the kink makes it judged again.
// covers: BILEVEL-MAML-RELU
TEST(BilevelMaml, PreActivationAtExactlyZero) {
  const WorkingPrecision wp(256);
  M base = make_maml(3, 4, 0, 0.05, 11);
  MamlInputs<double> in = base.in();
  const reference::MlpLayout L(3);
  in.x_query[0] = 1.0;
  in.theta[L.w1] = 0.5;
  in.theta[L.b1] = -0.5;
  in.theta[L.w3] = 0.75;  // the unit reaches the output
  for (Index o = 0; o < 3; ++o) in.theta[L.w2 + o * 3] = 0.5;
  const M p(in);
  const Tensor<mp_real> E = reference::maml_hypergradient<mp_real>(p);
  auto loss_at = [&](double b) {
    std::vector<mp_real> phi;
    for (Index k = 0; k < p.dim(); ++k) phi.push_back(mp_real(p.in().theta[k]));
    phi[static_cast<std::size_t>(L.b1)] = mp_real(-0.5) + mp_real(b);
    return reference::mlp_loss<mp_real>(L, phi, p.in().x_query, p.in().y_query);
  };
  const mp_real h(1e-30), m0 = loss_at(0);  // the double 1e-30, as loss_at adds it
  const mp_real left = (m0 - loss_at(-1e-30)) / h, right = (loss_at(1e-30) - m0) / h;
  // A one-sided quotient with h = 1e-30 errs by O(h) relative at 256 bits; kOneSidedTolerance
  // leaves a margin of 1e10. The oracle is the left quotient within it; the right one is not.
  constexpr double kOneSidedTolerance = 1e-20;
  EXPECT_LE(touchstone::to_double(abs(E[L.b1] - left) / (abs(left) + abs(right))), kOneSidedTolerance);
  EXPECT_GT(touchstone::to_double(abs(right - left) / (abs(left) + abs(right))), kOneSidedTolerance);
  for (Format f : {Format::float32, Format::float64})
    for (const Tensor<double>& b : {maml_hypergradient_bound(p, bilevel_arithmetic_cpu(f)), maml_fom_bound(p, bilevel_arithmetic_cpu(f))})
      for (Index k = 0; k < p.dim(); ++k) EXPECT_EQ(b[k], INFINITY) << k;
  Arrays arrays = split(in.theta, 3, "");
  for (const auto& [name, t] : Arrays{{"x_support", in.x_support}, {"y_support", in.y_support}, {"x_query", in.x_query},
                                      {"y_query", in.y_query}, {"alpha", Tensor<double>(Shape{}, in.alpha)},
                                      {"r", Tensor<double>(Shape{}, 0.0)}})
    arrays[name] = t;
  auto verdict = [&](const Tensor<double>& t) {
    return test_support::diff_verdict("bilevel.maml.exact_stored", arrays, grads(t, 3), {}, 4);
  };
  const Tensor<double> ours = as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::stored));
  EXPECT_EQ(verdict(ours), Verdict::inconclusive);
  Tensor<double> wrong = ours;
  wrong[L.b1] += 1;
  EXPECT_NE(verdict(wrong), Verdict::pass);
  // Off the kink the same problem is judged: the answer passes, the wrong one fails.
  arrays["b1"][0] = -0.25;
  Tensor<double> theta = in.theta;
  theta[L.b1] = -0.25;
  const M moved({in.x_support, in.y_support, in.x_query, in.y_query, theta, in.alpha, 0});
  const Tensor<double> ok = as_double(cpu::maml_hypergradient(moved.cast<float>(), order::Method::stored));
  EXPECT_EQ(verdict(ok), Verdict::pass);
  Tensor<double> off = ok;
  off[L.b1] += 1;
  EXPECT_EQ(verdict(off), Verdict::fail);
}

// Why the bound refuses an uncertain mask: W1_0 = x = 1 + 2^-23 and b1_0 = -(1 + 2^-22) make the
// exact pre-activation 2^-46 > 0 (the unit is active) while float32 rounds W1_0 x to 1 + 2^-22 and
// computes 0 (inactive). The float32 answer then differs from the oracle by far more than rounding
// in the unit's gradient elements; the bound declares them unjudged (+inf), so `diff` does not PASS
// it, and float64, which gets the sign right, is judged and passes.
// covers: BILEVEL-MAML-RELU BILEVEL-MAML-BOUND
TEST(BilevelMaml, MaskFlippedByRounding) {
  const WorkingPrecision wp(256);
  MamlInputs<double> in = make_maml(3, 4, 0, 0.05, 12).in();
  const reference::MlpLayout L(3);
  const double one_up = 1 + 0x1p-23;
  in.x_query[0] = one_up;
  in.theta[L.w1] = one_up;
  in.theta[L.b1] = -(1 + 0x1p-22);
  in.theta[L.w3] = 0.75;
  for (Index o = 0; o < 3; ++o) in.theta[L.w2 + o * 3] = 0.5;
  const M p(in);
  const Tensor<mp_real> E = reference::maml_hypergradient<mp_real>(p);
  const Tensor<double> f32 = as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::stored));
  const Tensor<double> f64 = cpu::maml_hypergradient(p, order::Method::stored);
  // The unit's mask flipped: float32's gradient of b1 is the inactive unit's, exactly 0, where the
  // exact one is not (-0.00975 here); float64 gets the sign, and the value, right.
  EXPECT_EQ(f32[L.b1], 0.0);
  EXPECT_NE(touchstone::to_double(E[L.b1]), 0.0);
  const Tensor<double> b32 = maml_hypergradient_bound(p, bilevel_arithmetic_cpu(Format::float32));
  const Tensor<double> b64 = maml_hypergradient_bound(p, bilevel_arithmetic_cpu(Format::float64));
  EXPECT_EQ(b32[L.b1], INFINITY);
  for (Index k = 0; k < p.dim(); ++k) {
    ASSERT_TRUE(std::isfinite(b64[k])) << k;
    EXPECT_LE(std::fabs(touchstone::to_double(mp_real(f64[k]) - E[k])), b64[k]) << k;
  }
}

// Stored = recomputed bit for bit, the step counts, every backend within its bound in float32
// and float64 (affine form at widths 4 and 8, core's Tracked alone at 40), and the tightness.
// covers: BILEVEL-MAML-CPU BILEVEL-MAML-BOUND BILEVEL-RECOMPUTE-COST
TEST(BilevelMaml, BackendsWithinBounds) {
  const WorkingPrecision wp(256);
  struct Case {
    Index h, k, r;
  };
  double worst_small = 0, worst_wide = 0, worst_fom = 0;
  std::uint64_t seed = 300;
  for (const Case c : {Case{4, 5, 0}, Case{4, 5, 2}, Case{8, 5, 3}, Case{40, 10, 1}}) {
    const M p = make_maml(c.h, c.k, c.r, 0.01, seed++);
    const Tensor<mp_real> E = reference::maml_hypergradient<mp_real>(p), F = reference::maml_fom<mp_real>(p);
    for (Format f : {Format::float32, Format::float64}) {
      const bool f32 = f == Format::float32;
      order::Counts cs, cr;
      const Tensor<double> s = f32 ? as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::stored, &cs))
                                   : cpu::maml_hypergradient(p, order::Method::stored, &cs);
      const Tensor<double> rc = f32 ? as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::recompute, &cr))
                                    : cpu::maml_hypergradient(p, order::Method::recompute, &cr);
      const Tensor<double> fo = f32 ? as_double(cpu::maml_fom(p.cast<float>())) : cpu::maml_fom(p);
      EXPECT_EQ(cs.inner_steps, c.r);
      EXPECT_EQ(cs.hvps, c.r);
      EXPECT_EQ(cr.inner_steps, c.r * (c.r + 1) / 2);
      const Tensor<double> bs = maml_hypergradient_bound(p, bilevel_arithmetic_cpu(f));
      const Tensor<double> bf = maml_fom_bound(p, bilevel_arithmetic_cpu(f));
      Index finite = 0;
      for (Index i = 0; i < p.dim(); ++i) {
        EXPECT_EQ(s[i], rc[i]);
        const double es = std::fabs(touchstone::to_double(mp_real(s[i]) - E[i]));
        const double ef = std::fabs(touchstone::to_double(mp_real(fo[i]) - F[i]));
        EXPECT_LE(es, bs[i]) << "h " << c.h << " r " << c.r << " element " << i;
        EXPECT_LE(ef, bf[i]) << "h " << c.h << " r " << c.r << " element " << i;
        if (std::isfinite(bs[i])) ++finite;
        double& worst = c.h > 8 ? worst_wide : worst_small;
        if (bs[i] > 0 && std::isfinite(bs[i])) worst = std::max(worst, es / bs[i]);
        if (bf[i] > 0 && std::isfinite(bf[i])) worst_fom = std::max(worst_fom, ef / bf[i]);
      }
      std::printf("  maml h %ld r %ld %s: %ld of %ld elements judged\n", static_cast<long>(c.h), static_cast<long>(c.r),
                  f32 ? "f32" : "f64", static_cast<long>(finite), static_cast<long>(p.dim()));
      if (c.h <= 8) {
        EXPECT_EQ(finite, p.dim());
      }
    }
  }
  std::printf("  maml: largest err/bound exact %.3g (h <= 8), %.3g (h = 40), fom %.3g\n", worst_small, worst_wide,
              worst_fom);
  EXPECT_GT(worst_small, kVacuousRatio);
  EXPECT_GT(worst_fom, kVacuousRatio);
}

Arrays maml_arrays(const M& p) {
  const auto& in = p.in();
  Arrays a = split(in.theta, p.hidden(), "");
  for (const auto& [name, t] :
       Arrays{{"x_support", in.x_support}, {"y_support", in.y_support}, {"x_query", in.x_query},
              {"y_query", in.y_query}, {"alpha", Tensor<double>(Shape{}, in.alpha)},
              {"r", Tensor<double>(Shape{}, static_cast<double>(in.r))}})
    a[name] = t;
  return a;
}

// `diff`: the float32 answers pass; FOM as the exact hypergradient (and the reverse), one step
// dropped, a 1% scaled answer and one element off by 1% of the largest fail.
// covers: BILEVEL-MAML-DIFF
TEST(BilevelMaml, WrongAnswersFail) {
  using test_support::diff_verdict;
  for (std::uint64_t seed = 0; seed < 2; ++seed) {
    const M p = make_maml(4, 5, 3, 0.05, 900 + seed);
    const Arrays in = maml_arrays(p);
    const Tensor<double> E = reference::maml_hypergradient<double>(p), F = reference::maml_fom<double>(p);
    auto exact = [&](const Tensor<double>& t) { return diff_verdict("bilevel.maml.exact_stored", in, grads(t, 4), {}, 4); };
    auto fom = [&](const Tensor<double>& t) { return diff_verdict("bilevel.maml.fom", in, grads(t, 4), {}, 4); };
    EXPECT_EQ(exact(as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::stored))), Verdict::pass);
    EXPECT_EQ(exact(E), Verdict::pass);
    EXPECT_EQ(fom(as_double(cpu::maml_fom(p.cast<float>()))), Verdict::pass);
    EXPECT_EQ(exact(F), Verdict::fail) << "FOM as exact";
    EXPECT_EQ(fom(E), Verdict::fail) << "exact as FOM";
    EXPECT_EQ(exact(reference::maml_hypergradient<double>(with_steps(p, 2))), Verdict::fail) << "one step dropped";
    Tensor<double> scaled = E, off = E;
    double largest = 0;
    for (Index i = 0; i < E.count(); ++i) {
      scaled[i] *= 1.01;
      largest = std::max(largest, std::fabs(E[i]));
    }
    off[5] += 0.01 * largest;
    EXPECT_EQ(exact(scaled), Verdict::fail);
    EXPECT_EQ(exact(off), Verdict::fail);
  }
}

// covers: BILEVEL-MAML-DEF
TEST(BilevelMaml, BadInputIsNamed) {
  auto argument = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const InvalidInput& e) {
      return e.argument();
    }
    return "(accepted)";
  };
  const M p = make_maml(3, 4, 1, 0.05, 1);
  MamlInputs<double> in = p.in();
  EXPECT_EQ(argument([&] { M{in}; }), "(accepted)");
  MamlInputs<double> bad = in;
  bad.theta = Tensor<double>(Shape{20}, 0.0);
  EXPECT_EQ(argument([&] { M{bad}; }), "theta");
  bad = in;
  bad.y_support = Tensor<double>(Shape{3}, 0.0);
  EXPECT_EQ(argument([&] { M{bad}; }), "y_support");
  bad = in;
  bad.x_query[1] = NAN;
  EXPECT_EQ(argument([&] { M{bad}; }), "x_query");
  bad = in;
  bad.r = -1;
  EXPECT_EQ(argument([&] { M{bad}; }), "r");
  // Through the entry: each weight's shape is checked against the width W1 gives.
  const Algorithm& a = builtin_registry().get("bilevel.maml.fom");
  NpyMap files;
  for (const auto& [name, t] : maml_arrays(p)) files[name] = test_support::npy(t);
  EXPECT_EQ(argument([&] { a.from_arrays(files, {}); }), "(accepted)");
  NpyMap wrong = files;
  wrong["W2"] = test_support::npy(Tensor<double>(Shape{3, 2}, 0.0));
  EXPECT_EQ(argument([&] { a.from_arrays(wrong, {}); }), "W2");
  wrong = files;
  wrong["W1"] = test_support::npy(Tensor<double>(Shape{3}, 0.0));
  EXPECT_EQ(argument([&] { a.from_arrays(wrong, {}); }), "W1");
}

}  // namespace

namespace {

// The registry's generator: the same seed gives the same task, another seed another; the support
// and query points lie on one sinusoid A sin(x - phase) (recovered by least squares on sin x and
// cos x: y = A cos(phase) sin x - A sin(phase) cos x) with A in [0.1, 5] and phase in [0, pi], x in
// [-5, 5]; the weights within PyTorch's Linear initialization bounds. A y moved off the sinusoid is
// seen by the same residual check.
// covers: BILEVEL-MAML-TASKS
TEST(BilevelMaml, TasksFromPhilox) {
  const Algorithm& a = builtin_registry().get("bilevel.maml.exact_stored");
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const Arrays in = a.generate("standard", Format::float64, seed)->inputs();
    EXPECT_EQ(a.generate("standard", Format::float64, seed)->inputs().at("W2")[7], in.at("W2")[7]);
    EXPECT_NE(a.generate("standard", Format::float64, seed + 1)->inputs().at("y_support")[0], in.at("y_support")[0]);
    std::vector<double> xs, ys;
    for (const char* set : {"support", "query"})
      for (Index i = 0; i < 10; ++i) {
        xs.push_back(in.at(std::string("x_") + set)[i]);
        ys.push_back(in.at(std::string("y_") + set)[i]);
      }
    auto residual = [&](const std::vector<double>& y, double& amplitude, double& phase) {
      double ss = 0, sc = 0, cc = 0, sy = 0, cy = 0;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double s = std::sin(xs[i]), c = std::cos(xs[i]);
        ss += s * s, sc += s * c, cc += c * c, sy += s * y[i], cy += c * y[i];
      }
      const double det = ss * cc - sc * sc, p = (sy * cc - cy * sc) / det, q = (cy * ss - sy * sc) / det;
      amplitude = std::hypot(p, q);
      phase = std::atan2(-q, p);
      double worst = 0;
      for (std::size_t i = 0; i < xs.size(); ++i)
        worst = std::max(worst, std::fabs(p * std::sin(xs[i]) + q * std::cos(xs[i]) - y[i]));
      return worst;
    };
    double amplitude = 0, phase = 0;
    EXPECT_LE(residual(ys, amplitude, phase), 1e-12) << "seed " << seed;
    EXPECT_GE(amplitude, 0.1);
    EXPECT_LE(amplitude, 5.0);
    EXPECT_GE(phase, -1e-12);
    EXPECT_LE(phase, 3.14159265358979323846 + 1e-12);
    for (double x : xs) EXPECT_LE(std::fabs(x), 5.0);
    std::vector<double> moved = ys;
    moved[3] += 1e-3;
    EXPECT_GT(residual(moved, amplitude, phase), 1e-4);
    for (const char* name : {"W1", "b1", "W2", "b2", "W3", "b3"}) {
      const Tensor<double>& w = in.at(name);
      EXPECT_EQ(w.count(), std::string(name) == "W2" ? 1600 : std::string(name) == "b3" ? 1 : 40) << name;
      const double bound = name[1] == '1' ? 1.0 : 1 / std::sqrt(40.0);  // 1/sqrt(fan_in)
      for (Index i = 0; i < w.count(); ++i) EXPECT_LE(std::fabs(w[i]), bound) << name << i;
    }
  }
}

}  // namespace

// [BILEVEL-MAML-FORWARD] Forward mode: dim tangents through r inner steps (r dim HVPs, r inner
// steps, one outer gradient), within its own bound of the oracle, equal to reverse mode within the
// two bounds; diff of bilevel.maml.exact_forward passes the forward and the stored answers and
// fails FOM, a 1% scaled answer and one element off by 1% of the largest.
// covers: BILEVEL-MAML-FORWARD
TEST(BilevelMaml, ForwardModeWithinBoundAndEqualsReverse) {
  const WorkingPrecision wp(256);
  struct Case {
    Index h, k, r;
  };
  std::uint64_t seed = 500;
  for (const Case c : {Case{4, 5, 0}, Case{4, 5, 1}, Case{4, 5, 2}, Case{8, 5, 3}, Case{12, 5, 1}}) {
    const M p = make_maml(c.h, c.k, c.r, 0.01, seed++);
    const Tensor<mp_real> E = reference::maml_hypergradient<mp_real>(p);
    for (Format f : {Format::float32, Format::float64}) {
      const bool f32 = f == Format::float32;
      order::Counts cf;
      const Tensor<double> fw = f32 ? as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::forward, &cf))
                                    : cpu::maml_hypergradient(p, order::Method::forward, &cf);
      const Tensor<double> st = f32 ? as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::stored))
                                    : cpu::maml_hypergradient(p, order::Method::stored);
      EXPECT_EQ(cf.inner_steps, c.r);
      EXPECT_EQ(cf.hvps, c.r * p.dim());
      EXPECT_EQ(cf.outer_gradients, 1);
      const Tensor<double> bf = maml_hypergradient_bound(p, order::Method::forward, bilevel_arithmetic_cpu(f));
      const Tensor<double> bs = maml_hypergradient_bound(p, bilevel_arithmetic_cpu(f));
      Index finite = 0;
      for (Index i = 0; i < p.dim(); ++i) {
        EXPECT_LE(std::fabs(touchstone::to_double(mp_real(fw[i]) - E[i])), bf[i]) << "h " << c.h << " element " << i;
        EXPECT_LE(std::fabs(fw[i] - st[i]), bf[i] + bs[i]) << "h " << c.h << " element " << i;
        if (std::isfinite(bf[i])) ++finite;
      }
      std::printf("  maml forward h %ld r %ld %s: %ld of %ld elements judged\n", static_cast<long>(c.h),
                  static_cast<long>(c.r), f32 ? "f32" : "f64", static_cast<long>(finite), static_cast<long>(p.dim()));
      // The tangents' float32 bound is the affine form's only while its cost allows (h = 4, r <= 1);
      // past that core's Tracked leaves part of a float32 answer unjudged ([BILEVEL-MAML-FORWARD]).
      if (!f32 || (c.h == 4 && c.r <= 1)) {
        EXPECT_EQ(finite, p.dim());
      }
    }
  }
  using test_support::diff_verdict;
  const M p = make_maml(4, 5, 1, 0.05, 950);
  const Arrays in = maml_arrays(p);
  auto forward = [&](const Tensor<double>& t) { return diff_verdict("bilevel.maml.exact_forward", in, grads(t, 4), {}, 4); };
  EXPECT_EQ(forward(as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::forward))), Verdict::pass);
  EXPECT_EQ(forward(as_double(cpu::maml_hypergradient(p.cast<float>(), order::Method::stored))), Verdict::pass);
  EXPECT_EQ(forward(reference::maml_fom<double>(p)), Verdict::fail) << "FOM as exact";
  const Tensor<double> E = reference::maml_hypergradient<double>(p);
  Tensor<double> scaled = E, off = E;
  double largest = 0;
  for (Index i = 0; i < E.count(); ++i) {
    scaled[i] *= 1.01;
    largest = std::max(largest, std::fabs(E[i]));
  }
  off[7] += 0.01 * largest;
  EXPECT_EQ(forward(E), Verdict::pass);
  EXPECT_EQ(forward(scaled), Verdict::fail) << "scaled by 1.01";
  EXPECT_EQ(forward(off), Verdict::fail) << "one element off";
}
