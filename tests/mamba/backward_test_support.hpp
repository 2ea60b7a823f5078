// Shared helpers of the selective scan backward tests: small problems with every option, basis
// and random tangents, and judging gradients against the oracle and a bound.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "cpu/mamba.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_backward.hpp"

namespace touchstone::mamba::testing {

// A small problem with every optional input, variable B (2 groups) and constant or variable C,
// values float32, and a float32 cotangent (with dlast_state when `dlast`).
inline SelectiveScanBackwardProblem<double> small_backward_problem(std::uint64_t seed, bool dlast,
                                                                   Index L = 5) {
  const Index batch = 2, dim = 4, N = 3;
  auto fill = [&](const char* name, std::vector<Index> shape, double lo, double hi) {
    PhiloxStream rng(seed, std::string("backward-test/") + name);
    Tensor<double> t{Shape(std::move(shape))};
    for (Index i = 0; i < t.count(); ++i)
      t[i] = static_cast<double>(static_cast<float>(rng.next_uniform(lo, hi)));
    return t;
  };
  SelectiveScanInputs<double> in;
  in.u = fill("u", {batch, dim, L}, -1, 1);
  in.delta = fill("delta", {batch, dim, L}, -1, 1);
  in.A = fill("A", {dim, N}, -1.5, 0);
  in.B = fill("B", {batch, 2, N, L}, -1, 1);
  in.C = seed % 2 ? fill("C", {dim, N}, -1, 1) : fill("C", {batch, 1, N, L}, -1, 1);
  in.D = fill("D", {dim}, -1, 1);
  in.z = fill("z", {batch, dim, L}, -3, 3);
  in.delta_bias = fill("delta_bias", {dim}, 0, 0.5);
  in.h0 = fill("h0", {batch, dim, N}, -1, 1);
  in.delta_softplus = true;
  SelectiveScanProblem<double> p(std::move(in));
  std::optional<Tensor<double>> dl;
  if (dlast) dl = fill("dlast_state", {batch, dim, N}, -1, 1);
  return SelectiveScanBackwardProblem<double>(std::move(p), fill("dout", {batch, dim, L}, -1, 1),
                                              std::move(dl));
}

// Calls f(array name, flat index, tangent) for the unit tangent of every input element, real or
// complex scan (every real number: both parts of a complex element).
template <class S>
void for_each_basis_direction(
    const ScanProblem<double, S>& p,
    const std::function<void(const std::string&, Index, const typename S::template Inputs<double>&)>& f) {
  const auto& in = p.in();
  auto zeros = [](const Tensor<double>& t) { return Tensor<double>(t.shape(), 0.0); };
  typename S::template Inputs<double> e;
  e.u = zeros(in.u);
  e.delta = zeros(in.delta);
  e.A = zeros(in.A);
  e.B = zeros(in.B);
  e.C = zeros(in.C);
  if (in.D) e.D = zeros(*in.D);
  if (in.z) e.z = zeros(*in.z);
  if (in.delta_bias) e.delta_bias = zeros(*in.delta_bias);
  if constexpr (!S::kComplex)
    if (in.h0) e.h0 = zeros(*in.h0);
  e.delta_softplus = in.delta_softplus;
  auto walk = [&](const std::string& name, Tensor<double>& t) {
    for (Index i = 0; i < t.count(); ++i) {
      t[i] = 1;
      f(name, i, e);
      t[i] = 0;
    }
  };
  walk("u", e.u);
  walk("delta", e.delta);
  walk("A", e.A);
  walk("B", e.B);
  walk("C", e.C);
  if (e.D) walk("D", *e.D);
  if (e.z) walk("z", *e.z);
  if (e.delta_bias) walk("delta_bias", *e.delta_bias);
  if constexpr (!S::kComplex)
    if (e.h0) walk("h0", *e.h0);
}

// Gradients of either scan in double (SelectiveScanGrads or ComplexScanGrads).
template <template <class> class Grads, class T>
Grads<double> grads_as_double(const Grads<T>& g) {
  auto opt = [](const std::optional<Tensor<T>>& t) -> std::optional<Tensor<double>> {
    if (!t) return std::nullopt;
    return t->template cast<double>();
  };
  Grads<double> d;
  d.du = g.du.template cast<double>();
  d.ddelta = g.ddelta.template cast<double>();
  d.dA = g.dA.template cast<double>();
  d.dB = g.dB.template cast<double>();
  d.dC = g.dC.template cast<double>();
  d.dD = opt(g.dD);
  d.dz = opt(g.dz);
  d.ddelta_bias = opt(g.ddelta_bias);
  if constexpr (requires { g.dh0; }) d.dh0 = opt(g.dh0);
  return d;
}

template <class G>
constexpr bool kHasDh0 = requires(G& g) { g.dh0; };

// Calls f(name, member...) for each gradient array present in every one of the given gradients
// (all of one scan).
template <class F, class... G>
void for_each_grad(F&& f, G&... g) {
  f("du", g.du...);
  f("ddelta", g.ddelta...);
  f("dA", g.dA...);
  f("dB", g.dB...);
  f("dC", g.dC...);
  if ((g.dD && ...)) f("dD", *g.dD...);
  if ((g.dz && ...)) f("dz", *g.dz...);
  if ((g.ddelta_bias && ...)) f("ddelta_bias", *g.ddelta_bias...);
  if constexpr ((kHasDh0<G> && ...))
    if ((g.dh0 && ...)) f("dh0", *g.dh0...);
}

}  // namespace touchstone::mamba::testing

#include "touchstone/bounds/mamba_backward_bound.hpp"

namespace touchstone::mamba::testing {

struct GradJudgement {
  std::vector<std::pair<std::string, ErrorSummary>> arrays;
  bool pass() const {
    // Nothing outside its bound; unjudged counted, NaN/Inf outside the domain allowed ([CORE-OWN-DOMAIN]).
    for (const auto& [n, s] : arrays)
      if (s.outside) return false;
    return true;
  }
  double max_ratio() const {
    double r = 0;
    for (const auto& [n, s] : arrays) r = std::max(r, s.max_ratio);
    return r;
  }
  std::string describe() const {
    std::string s;
    for (const auto& [n, e] : arrays) {
      s += n + ": failures " + std::to_string(e.outside) + " max err/bound " +
           std::to_string(e.max_ratio);
      for (const auto& f : e.first_failures)
        s += "\n  at " + std::to_string(f.index) + " computed " + std::to_string(f.computed) +
             " exact " + std::to_string(f.exact) + " bound " + std::to_string(f.bound);
      s += "\n";
    }
    return s;
  }
};

inline GradJudgement judge_grads(SelectiveScanGrads<double> computed,
                                 SelectiveScanGrads<mp_real> exact,
                                 SelectiveScanGrads<double> bound, Format f) {
  GradJudgement j;
  for_each_grad(
      [&](const std::string& name, const Tensor<double>& c, const Tensor<mp_real>& e,
          const Tensor<double>& b) { j.arrays.emplace_back(name, compare(name, own_domain_view(c, e, b), e, &b, f)); },
      computed, exact, bound);
  return j;
}

}  // namespace touchstone::mamba::testing
