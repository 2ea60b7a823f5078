// The bilevel family on the CPU: the sequences of order/bilevel_order.hpp on native floats.
#include "bilevel.hpp"

#include <cmath>
#include <type_traits>

#include "common/native_arithmetic.hpp"

namespace touchstone::bilevel::cpu {
namespace {

// The order's arithmetic policy on T (optimized/common/native_arithmetic.hpp).
using cpu_common::NativeArithmetic;

// With the logistic class's sigmoid (elementary.hpp: evaluated from e^-|z|, rounded once).
template <class T>
struct LogisticArithmetic : NativeArithmetic<T> {
  static T sigmoid(T z) {
    if constexpr (std::is_same_v<T, float>) return elementary::sigmoid_f32(z);
    else return elementary::sigmoid_f64(z);
  }
  // [BILEVEL-MAML-RELU] relu'(a) = [a > 0] (0 at a = 0, PyTorch's threshold_backward).
  static T relu_mask(T a) { return a > T(0) ? T(1) : T(0); }
  static T masked(T m, T a) { return m != T(0) ? a : T(0); }
};

template <class T, class Body>
Tensor<T> run_maml(const MamlProblem<T>& p, order::Counts* counts, const Body& body) {
  LogisticArithmetic<T> ar;
  const MamlProblem<double> p64 = p.template cast<double>();
  order::Mlp<LogisticArithmetic<T>> cls(ar, p64);
  const std::vector<T> theta = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().theta[i]); });
  std::vector<T> g = body(ar, cls, theta);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}
template <class T>
Tensor<T> maml_exact_t(const MamlProblem<T>& p, Method m, order::Counts* c) {
  return run_maml(p, c, [&](auto& ar, auto& cls, const std::vector<T>& theta) {
    switch (m) {
      case Method::recompute: return order::exact_recompute(cls, theta, p.steps());
      case Method::forward: return order::exact_forward(ar, cls, theta, p.steps());
      case Method::stored: break;
    }
    return order::exact_stored(cls, theta, p.steps());
  });
}
template <class T>
Tensor<T> maml_fom_t(const MamlProblem<T>& p, order::Counts* c) {
  return run_maml(p, c, [&](auto&, auto& cls, const std::vector<T>& theta) { return order::fom(cls, theta, p.steps()); });
}

template <class T, class Body>
Tensor<T> run_logistic(const LogisticProblem<T>& p, order::Counts* counts, const Body& body) {
  LogisticArithmetic<T> ar;
  const RidgeProblem<double> p64 = p.template cast<double>();
  order::Logistic<LogisticArithmetic<T>> cls(ar, p64);
  const std::vector<T> w0 = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().w0[i]); });
  std::vector<T> g = body(ar, cls, w0);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}

template <class T>
Tensor<T> logistic_hvp_t(const HvpProblem<LogisticProblem<T>>& h) {
  LogisticArithmetic<T> ar;
  const RidgeProblem<double> p64 = h.problem().template cast<double>();
  order::Logistic<LogisticArithmetic<T>> cls(ar, p64);
  const Index d = h.problem().dim();
  const std::vector<T> v = order::initial(ar, d, [&](Index i) { return static_cast<double>(h.v()[i]); });
  const std::vector<T> w = order::initial(ar, d, [&](Index i) { return static_cast<double>(h.problem().in().w0[i]); });
  return Tensor<T>(Shape{d}, cls.hessian_product(w, v));
}

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

// [BILEVEL-UFOM-ADAPTIVE-CPU] sqrt (IEEE, correctly rounded), min, max and the comparison.
template <class T>
struct AdaptiveArithmetic : NativeArithmetic<T> {
  static T sqrt(T a) { return std::sqrt(a); }
  static T min(T a, T b) { return b < a ? b : a; }
  template <class Then, class Otherwise>
  static T at_least(T a, T b, const Then& then, const Otherwise& otherwise) {
    return a >= b ? then() : otherwise();
  }
};

template <class T>
AdaptiveUfomResult<T> ufom_adaptive_t(const AdaptiveUfomProblem<T>& a, order::Counts* counts) {
  const UfomProblem<T>& u = a.ufom();
  const auto& in = u.quad().in();
  AdaptiveArithmetic<T> ar;
  order::Quadratic<AdaptiveArithmetic<T>> cls(
      ar, u.quad().dim(), [&](Index i, Index k) { return static_cast<double>(in.A(i, k)); },
      [&](Index i) { return static_cast<double>(in.c[i]); }, static_cast<double>(in.alpha), order::Form::plain);
  const std::vector<T> theta = order::initial(ar, u.quad().dim(), [&](Index i) { return static_cast<double>(in.theta[i]); });
  auto est = order::ufom_adaptive_estimate(ar, cls, theta, u.quad().steps(), static_cast<double>(u.q()), u.xi());
  if (counts) *counts = cls.counts();
  AdaptiveUfomResult<T> out;
  out.grad = Tensor<T>(Shape{u.quad().dim()}, std::move(est.grad));
  out.q_next = u.q();
  out.ema_v2_next = a.ema_v2();
  out.ema_d2_next = a.ema_d2();
  if (u.xi() == 0) {
    if (a.exact_steps() > 0) {
      const T c = order::bias_correction(ar, a.exact_steps());
      out.v2 = ar.div(out.ema_v2_next, c);
      out.d2 = ar.div(out.ema_d2_next, c);
    }
    return out;
  }
  const auto s = order::adaptive_state(ar, est.v2_sample, est.d2_sample, static_cast<double>(a.ema_v2()),
                                       static_cast<double>(a.ema_d2()), a.exact_steps(), u.quad().steps());
  out.q_next = s.q_next;
  out.ema_v2_next = s.ema_v2;
  out.ema_d2_next = s.ema_d2;
  out.v2 = s.v2;
  out.d2 = s.d2;
  return out;
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

Tensor<float> hvp(const HvpProblem<LogisticProblem<float>>& p) { return logistic_hvp_t(p); }
Tensor<double> hvp(const HvpProblem<LogisticProblem<double>>& p) { return logistic_hvp_t(p); }

Tensor<float> logistic_hypergradient(const LogisticProblem<float>& p, Method m, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::ridge_exact(ar, cls, w0, p.steps(), m); });
}
Tensor<double> logistic_hypergradient(const LogisticProblem<double>& p, Method m, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::ridge_exact(ar, cls, w0, p.steps(), m); });
}
Tensor<float> logistic_fom(const LogisticProblem<float>& p, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::theta_fom(ar, cls, w0, p.steps()); });
}
Tensor<double> logistic_fom(const LogisticProblem<double>& p, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::theta_fom(ar, cls, w0, p.steps()); });
}
Tensor<float> logistic_ufom(const LogisticUfomProblem<float>& u, order::Counts* c) {
  return run_logistic(u.problem(), c, [&](auto& ar, auto& cls, const auto& w0) {
    return order::theta_ufom(ar, cls, w0, u.problem().steps(), static_cast<double>(u.q()), u.xi());
  });
}
Tensor<double> logistic_ufom(const LogisticUfomProblem<double>& u, order::Counts* c) {
  return run_logistic(u.problem(), c, [&](auto& ar, auto& cls, const auto& w0) {
    return order::theta_ufom(ar, cls, w0, u.problem().steps(), u.q(), u.xi());
  });
}

Tensor<float> maml_hypergradient(const MamlProblem<float>& p, Method m, order::Counts* c) { return maml_exact_t(p, m, c); }
Tensor<double> maml_hypergradient(const MamlProblem<double>& p, Method m, order::Counts* c) { return maml_exact_t(p, m, c); }
Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* c) { return maml_fom_t(p, c); }
Tensor<double> maml_fom(const MamlProblem<double>& p, order::Counts* c) { return maml_fom_t(p, c); }

Tensor<float> ridge_hypergradient(const RidgeProblem<float>& p, Method m, order::Counts* c) { return ridge_t(p, m, c); }
Tensor<double> ridge_hypergradient(const RidgeProblem<double>& p, Method m, order::Counts* c) { return ridge_t(p, m, c); }

Tensor<float> exact_hypergradient(const QuadraticProblem<float>& p, Method m, order::Counts* c) { return exact_t(p, m, c); }
Tensor<double> exact_hypergradient(const QuadraticProblem<double>& p, Method m, order::Counts* c) { return exact_t(p, m, c); }
Tensor<float> fom(const QuadraticProblem<float>& p, order::Counts* c) { return fom_t(p, c); }
Tensor<double> fom(const QuadraticProblem<double>& p, order::Counts* c) { return fom_t(p, c); }
AdaptiveUfomResult<float> ufom_adaptive(const AdaptiveUfomProblem<float>& p, order::Counts* c) {
  return ufom_adaptive_t(p, c);
}
AdaptiveUfomResult<double> ufom_adaptive(const AdaptiveUfomProblem<double>& p, order::Counts* c) {
  return ufom_adaptive_t(p, c);
}
Tensor<float> ufom(const UfomProblem<float>& p, order::Counts* c) { return ufom_t(p, c); }
Tensor<double> ufom(const UfomProblem<double>& p, order::Counts* c) { return ufom_t(p, c); }

}  // namespace touchstone::bilevel::cpu
