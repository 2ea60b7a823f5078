// The bilevel family on the CPU: the sequences of order/bilevel_order.hpp on native floats.
#include "bilevel.hpp"

#include <type_traits>

#include "common/native_arithmetic.hpp"

namespace touchstone::bilevel::cpu {
namespace {

// The order's arithmetic policy on T (optimized/common/native_arithmetic.hpp).
using cpu_common::NativeArithmetic;

template <class T, class Body>
Tensor<T> run(const QuadraticProblem<T>& p, order::Counts* counts, const Body& body) {
  const auto& in = p.in();
  NativeArithmetic<T> ar;
  order::Quadratic<NativeArithmetic<T>> cls(
      ar, p.dim(), [&](Index i, Index k) { return static_cast<double>(in.A(i, k)); },
      [&](Index i) { return static_cast<double>(in.c[i]); }, static_cast<double>(in.alpha), order::Form::plain);
  const std::vector<T> theta = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(in.theta[i]); });
  std::vector<T> g = body(ar, cls, theta);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}

template <class T>
Tensor<T> exact_t(const QuadraticProblem<T>& p, Method m, order::Counts* counts) {
  return run(p, counts, [&](auto& ar, auto& cls, const std::vector<T>& theta) {
    switch (m) {
      case Method::stored: return order::exact_stored(cls, theta, p.steps());
      case Method::recompute: return order::exact_recompute(cls, theta, p.steps());
      case Method::forward: return order::exact_forward(ar, cls, theta, p.steps());
    }
    return order::exact_stored(cls, theta, p.steps());
  });
}

template <class T>
Tensor<T> fom_t(const QuadraticProblem<T>& p, order::Counts* counts) {
  return run(p, counts, [&](auto&, auto& cls, const std::vector<T>& theta) { return order::fom(cls, theta, p.steps()); });
}

template <class T>
Tensor<T> ufom_t(const UfomProblem<T>& u, order::Counts* counts) {
  return run(u.quad(), counts, [&](auto& ar, auto& cls, const std::vector<T>& theta) {
    return order::ufom(ar, cls, theta, u.quad().steps(), static_cast<double>(u.q()), u.xi());
  });
}

template <class T>
Tensor<T> ridge_t(const RidgeProblem<T>& p, Method m, order::Counts* counts) {
  NativeArithmetic<T> ar;
  const RidgeProblem<double> p64 = p.template cast<double>();
  order::Ridge<NativeArithmetic<T>> cls(ar, p64);
  const std::vector<T> w0 = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().w0[i]); });
  std::vector<T> g = order::ridge_exact(ar, cls, w0, p.steps(), m);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}

template <class T>
Tensor<T> quadratic_hvp_t(const HvpProblem<QuadraticProblem<T>>& h) {
  NativeArithmetic<T> ar;
  const auto& in = h.problem().in();
  order::Quadratic<NativeArithmetic<T>> cls(
      ar, h.problem().dim(), [&](Index i, Index k) { return static_cast<double>(in.A(i, k)); },
      [&](Index i) { return static_cast<double>(in.c[i]); }, 0.0, order::Form::plain);
  const std::vector<T> v = order::initial(ar, h.problem().dim(), [&](Index i) { return static_cast<double>(h.v()[i]); });
  return Tensor<T>(Shape{h.problem().dim()}, cls.hessian_product(v));
}

template <class T>
Tensor<T> ridge_hvp_t(const HvpProblem<RidgeProblem<T>>& h) {
  NativeArithmetic<T> ar;
  order::Ridge<NativeArithmetic<T>> cls(ar, h.problem().template cast<double>());
  const std::vector<T> v = order::initial(ar, h.problem().dim(), [&](Index i) { return static_cast<double>(h.v()[i]); });
  return Tensor<T>(Shape{h.problem().dim()}, cls.hessian_product(v));
}

}  // namespace

Tensor<float> hvp(const HvpProblem<QuadraticProblem<float>>& p) { return quadratic_hvp_t(p); }
Tensor<double> hvp(const HvpProblem<QuadraticProblem<double>>& p) { return quadratic_hvp_t(p); }
Tensor<float> hvp(const HvpProblem<RidgeProblem<float>>& p) { return ridge_hvp_t(p); }
Tensor<double> hvp(const HvpProblem<RidgeProblem<double>>& p) { return ridge_hvp_t(p); }

Tensor<float> ridge_hypergradient(const RidgeProblem<float>& p, Method m, order::Counts* c) { return ridge_t(p, m, c); }
Tensor<double> ridge_hypergradient(const RidgeProblem<double>& p, Method m, order::Counts* c) { return ridge_t(p, m, c); }

Tensor<float> exact_hypergradient(const QuadraticProblem<float>& p, Method m, order::Counts* c) { return exact_t(p, m, c); }
Tensor<double> exact_hypergradient(const QuadraticProblem<double>& p, Method m, order::Counts* c) { return exact_t(p, m, c); }
Tensor<float> fom(const QuadraticProblem<float>& p, order::Counts* c) { return fom_t(p, c); }
Tensor<double> fom(const QuadraticProblem<double>& p, order::Counts* c) { return fom_t(p, c); }
Tensor<float> ufom(const UfomProblem<float>& p, order::Counts* c) { return ufom_t(p, c); }
Tensor<double> ufom(const UfomProblem<double>& p, order::Counts* c) { return ufom_t(p, c); }

}  // namespace touchstone::bilevel::cpu
