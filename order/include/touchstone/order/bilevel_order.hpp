// The bilevel family's operation sequences (spec/bilevel.md [BILEVEL-CPU]), written once over an
// arithmetic policy: the CPU backends (optimized/cpu/bilevel.cpp) run them on float or double, the
// bounds (bounds/src/bilevel_bound.cpp) on tracked values, sequentially for a backend's own bound
// or with every reduction in any order (and each Form below) for `diff` ([BILEVEL-BOUND-ANY]).
// These are not the oracles (reference/bilevel.hpp), which follow the spec's formulas
// independently.
//
// A policy Ar provides
//   V                      a computed value;  Acc  a reduction in progress
//   V input(double x)      an input element (a value of the compute format)
//   V add(V, V), sub(V, V), mul(V, V), div(V, V)   one rounding each
//   V exp(V)               the exponential within the backend's ulps (the ridge and logistic classes)
//   V sigmoid(V)           1 / (1 + e^-z) within the backend's ulps (the logistic class only): one
//                          elementary function, evaluated stably (never e^-z for z < 0), not composed
//                          here, so that no sign branch of the computed z enters the sequence
//   V relu_mask(V a)       [a > 0] as an exact 0 or 1 (the MAML class; [BILEVEL-MAML-RELU]: the
//                          tracked policy marks the value outside its domain where a's sign is
//                          not certain)
//   V masked(V m, V a)     a where the mask m is 1, exact 0 where it is 0
//   Acc acc(); void accumulate(Acc&, const V&); V total(const Acc&)   a sum: the backends add in
//                          the order accumulated
//
// The algorithms are written against a problem class (here Quadratic) that gives the inner step,
// the gradient of the outer loss and Hessian-vector products at a point, and counts them, so that
// the step counts of [BILEVEL-RECOMPUTE-COST] are measured on the code that runs.
#pragma once

#include <cstddef>
#include <vector>

#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/bilevel_problem.hpp"

namespace touchstone::bilevel::order {

// How a product with A and the step alpha are formed. The CPU backends use `plain`; the any-order
// bound takes the largest bound over all three ([BILEVEL-BOUND-ANY]).
enum class Form {
  plain,      // y = A x (a sum per row), then alpha * y_i
  prescaled,  // y_i = sum_k (alpha A_ik) x_k with alpha A rounded once
  symmetric,  // y = 1/2 (A x + A^T x), then alpha * y_i: what autograd of 1/2 x^T A x computes
};

// The three ways of computing the exact hypergradient ([BILEVEL-EXACT-DEF]).
enum class Method { stored, recompute, forward };

// What an algorithm called: inner steps (phi - alpha grad L_in(phi)), gradients of the outer loss,
// Hessian-vector products.
struct Counts {
  Index inner_steps = 0, outer_gradients = 0, hvps = 0;
};

// [BILEVEL-QUAD-DEF] The quadratic class on Ar: A, c and alpha read once as inputs.
template <class Ar>
class Quadratic {
 public:
  using V = typename Ar::V;
  using Vec = std::vector<V>;
  // H(phi) = A: the backward pass reads no iterate, so stored and recomputed iterates give the
  // same operations on the same values (what the bounds use to skip the recomputation).
  static constexpr bool hvp_reads_phi = false;
  template <class AFn, class CFn>
  Quadratic(Ar& ar, Index d, const AFn& A, const CFn& c, double alpha, Form form)
      : ar_(ar), d_(d), alpha_(ar.input(alpha)), form_(form) {
    a_.reserve(static_cast<std::size_t>(d * d));
    for (Index i = 0; i < d; ++i)
      for (Index k = 0; k < d; ++k) a_.push_back(ar.input(A(i, k)));
    for (Index i = 0; i < d; ++i) c_.push_back(ar.input(c(i)));
    if (form_ == Form::prescaled)
      for (const V& a : a_) alpha_a_.push_back(ar.mul(alpha_, a));
  }
  Index dim() const { return d_; }
  Counts& counts() { return counts_; }

  // grad L_out(phi) = A (phi - c) (the outer loss is the inner one).
  Vec outer_gradient(const Vec& phi) {
    ++counts_.outer_gradients;
    return times_a(deviation(phi));
  }
  // phi - alpha grad L_in(phi).
  Vec inner_step(const Vec& phi) {
    ++counts_.inner_steps;
    return descend(phi, deviation(phi));
  }
  // [BILEVEL-HVP-DEF] H v = A v (each row's sum in k order; the symmetric form: (A v + A^T v)/2).
  Vec hessian_product(const Vec& v) const { return times_a(v); }
  // x - alpha H(phi) v with H(phi) = A: a reverse-mode step (x = v = lambda) or a tangent step.
  Vec hvp_step(const Vec& /*phi*/, const Vec& v) {
    ++counts_.hvps;
    return descend(v, v);
  }

 private:
  Vec deviation(const Vec& phi) const {
    Vec dev;
    dev.reserve(phi.size());
    for (Index k = 0; k < d_; ++k) dev.push_back(ar_.sub(phi[k], c_[k]));
    return dev;
  }
  // A x, one sum per row in k order (the symmetric form: 1/2 (A x + A^T x)).
  Vec times_a(const Vec& x) const {
    Vec y;
    for (Index i = 0; i < d_; ++i) {
      typename Ar::Acc s = ar_.acc();
      for (Index k = 0; k < d_; ++k) ar_.accumulate(s, ar_.mul(a_[i * d_ + k], x[k]));
      if (form_ != Form::symmetric) {
        y.push_back(ar_.total(s));
        continue;
      }
      typename Ar::Acc t = ar_.acc();
      for (Index k = 0; k < d_; ++k) ar_.accumulate(t, ar_.mul(a_[k * d_ + i], x[k]));
      y.push_back(ar_.mul(ar_.input(0.5), ar_.add(ar_.total(s), ar_.total(t))));
    }
    return y;
  }
  // x_i - alpha (A v)_i.
  Vec descend(const Vec& x, const Vec& v) const {
    Vec out;
    out.reserve(x.size());
    if (form_ == Form::prescaled) {
      for (Index i = 0; i < d_; ++i) {
        typename Ar::Acc s = ar_.acc();
        for (Index k = 0; k < d_; ++k) ar_.accumulate(s, ar_.mul(alpha_a_[i * d_ + k], v[k]));
        out.push_back(ar_.sub(x[i], ar_.total(s)));
      }
      return out;
    }
    const Vec av = times_a(v);
    for (Index i = 0; i < d_; ++i) out.push_back(ar_.sub(x[i], ar_.mul(alpha_, av[i])));
    return out;
  }

  Ar& ar_;
  Index d_;
  V alpha_;
  Form form_;
  std::vector<V> a_, c_, alpha_a_;
  Counts counts_;
};

// phi_0 = theta read as inputs.
template <class Ar, class ThetaFn>
std::vector<typename Ar::V> initial(Ar& ar, Index d, const ThetaFn& theta) {
  std::vector<typename Ar::V> phi;
  for (Index i = 0; i < d; ++i) phi.push_back(ar.input(theta(i)));
  return phi;
}

// [BILEVEL-INNER-DEF] phi_steps from phi_0 (steps inner steps).
template <class Cls>
std::vector<typename Cls::V> unroll(Cls& cls, std::vector<typename Cls::V> phi, Index steps) {
  for (Index j = 0; j < steps; ++j) phi = cls.inner_step(phi);
  return phi;
}

// embed-begin bilevel_order
// [BILEVEL-FOM-CPU] F = grad L_out(phi_r).
template <class Cls>
std::vector<typename Cls::V> fom(Cls& cls, const std::vector<typename Cls::V>& theta, Index r) {
  return cls.outer_gradient(unroll(cls, theta, r));
}

// [BILEVEL-STORED-CPU] Reverse mode over the stored trajectory phi_0 .. phi_{r-1}:
// lambda = grad L_out(phi_r); for j = r-1 .. 0: lambda = lambda - alpha H(phi_j) lambda.
template <class Cls>
std::vector<typename Cls::V> exact_stored(Cls& cls, const std::vector<typename Cls::V>& theta, Index r) {
  std::vector<std::vector<typename Cls::V>> stored;
  stored.reserve(static_cast<std::size_t>(r));
  std::vector<typename Cls::V> phi = theta;
  for (Index j = 0; j < r; ++j) {
    stored.push_back(phi);
    phi = cls.inner_step(phi);
  }
  std::vector<typename Cls::V> lambda = cls.outer_gradient(phi);
  for (Index j = r - 1; j >= 0; --j) lambda = cls.hvp_step(stored[static_cast<std::size_t>(j)], lambda);
  return lambda;
}

// The backward pass from lambda_r: for j = r-1 .. 0, lambda = lambda - alpha H(phi_j) lambda with
// phi_j = phi_at(j).
template <class Cls, class PhiAt>
std::vector<typename Cls::V> backward(Cls& cls, Index r, std::vector<typename Cls::V> lambda, const PhiAt& phi_at) {
  for (Index j = r - 1; j >= 0; --j) lambda = cls.hvp_step(phi_at(j), lambda);
  return lambda;
}

// [BILEVEL-RECOMPUTE-CPU] The same backward pass from lambda_r = grad L_out(phi_r), with each
// phi_j recomputed from theta (j inner steps) instead of stored: O(dim) memory whatever r.
template <class Cls>
std::vector<typename Cls::V> exact_recompute_from(Cls& cls, const std::vector<typename Cls::V>& theta, Index r,
                                                  std::vector<typename Cls::V> lambda) {
  return backward(cls, r, std::move(lambda), [&](Index j) { return unroll(cls, theta, j); });
}
template <class Cls>
std::vector<typename Cls::V> exact_recompute(Cls& cls, const std::vector<typename Cls::V>& theta, Index r) {
  return exact_recompute_from(cls, theta, r, fom(cls, theta, r));
}

// [BILEVEL-FORWARD-CPU] Forward mode: the tangents Z = dphi_j/dtheta (dim columns, Z_0 = I) carried
// along the inner loop, Z_{j+1} e_t = Z_j e_t - alpha H(phi_j) Z_j e_t; then E_t = sum_k Z_r(k, t)
// grad L_out(phi_r)_k in k order. O(dim^2) memory whatever r.
template <class Ar, class Cls>
std::vector<typename Cls::V> exact_forward(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& theta, Index r) {
  using V = typename Cls::V;
  const Index d = cls.dim();
  std::vector<std::vector<V>> z;  // z[t] = Z e_t
  for (Index t = 0; t < d; ++t) {
    std::vector<V> col;
    for (Index k = 0; k < d; ++k) col.push_back(ar.input(k == t ? 1.0 : 0.0));
    z.push_back(std::move(col));
  }
  std::vector<V> phi = theta;
  for (Index j = 0; j < r; ++j) {
    for (Index t = 0; t < d; ++t) z[static_cast<std::size_t>(t)] = cls.hvp_step(phi, z[static_cast<std::size_t>(t)]);
    phi = cls.inner_step(phi);
  }
  const std::vector<V> g = cls.outer_gradient(phi);
  std::vector<V> out;
  for (Index t = 0; t < d; ++t) {
    typename Ar::Acc s = ar.acc();
    for (Index k = 0; k < d; ++k) ar.accumulate(s, ar.mul(z[static_cast<std::size_t>(t)][k], g[k]));
    out.push_back(ar.total(s));
  }
  return out;
}

// UFOM's combination in place, F <- F + fl(fl(E - F) / q) element by element (`reciprocal`:
// fl(E - F) times fl(1 / q), the bounds only): shared by every class's UFOM.
template <class Ar, class V>
void ufom_combine(Ar& ar, std::vector<V>& F, const std::vector<V>& E, double q, bool reciprocal) {
  const V qv = ar.input(q);
  const V w = reciprocal ? ar.div(ar.input(1.0), qv) : qv;
  for (std::size_t i = 0; i < F.size(); ++i) {
    const V diff = ar.sub(E[i], F[i]);
    F[i] = ar.add(F[i], reciprocal ? ar.mul(w, diff) : ar.div(diff, w));
  }
}

// The exact hypergradient UFOM's xi = 1 branch needs, given F = lambda_r: by recomputation from
// F, by the stored backward pass with phi_j = theta (see `ufom`), or by forward mode.
template <class Ar, class Cls>
std::vector<typename Cls::V> ufom_exact(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& theta, Index r,
                                        const std::vector<typename Cls::V>& F, Method method) {
  using V = typename Cls::V;
  return method == Method::recompute ? exact_recompute_from(cls, theta, r, F)
         : method == Method::stored  ? backward(cls, r, F, [&](Index) -> const std::vector<V>& { return theta; })
                                     : exact_forward(ar, cls, theta, r);
}

// [BILEVEL-UFOM-CPU] g = F + (E - F) / q when xi = 1 (E by recomputation from lambda_r = F), g = F
// when xi = 0 (E is not computed). For the bounds only: `method` forward (E by forward mode), or
// stored: the backward pass from lambda_r = F with phi_j = theta in place of the recomputed
// iterate, which a class whose HVP does not read phi (Quadratic) cannot tell apart (the same
// operations on the same values, r steps instead of r(r + 1)/2); `reciprocal`: (E - F) times
// fl(1 / q).
template <class Ar, class Cls>
std::vector<typename Cls::V> ufom(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& theta, Index r, double q,
                                  int xi, Method method = Method::recompute, bool reciprocal = false) {
  std::vector<typename Cls::V> F = fom(cls, theta, r);
  if (xi == 0) return F;
  const std::vector<typename Cls::V> E = ufom_exact(ar, cls, theta, r, F, method);
  ufom_combine(ar, F, E, q, reciprocal);
  return F;
}
// embed-end bilevel_order

// [BILEVEL-UFOM-ADAPTIVE-CPU] One step of adaptive UFOM. The estimate as `ufom` (same operations,
// same order), keeping E; with xi = 1 the samples |E|^2 and |g - E|^2 (each one sum in k order of
// fl(x_k x_k)), then `adaptive_state`. The policy adds
//   V sqrt(V), V min(V, V), V max(V, V)      (sqrt correctly rounded; min/max exact)
//   V at_least(a, b, then, otherwise)         then() when a >= b, else otherwise(): the tracked
//                                             policy decides only where the computed and the
//                                             exact comparison agree for certain, and marks the
//                                             result outside its domain (unjudged) where they can
//                                             differ
template <class V>
struct AdaptiveUfomValues {
  std::vector<V> grad;
  V v2_sample{}, d2_sample{};
};
template <class Ar, class Cls>
AdaptiveUfomValues<typename Cls::V> ufom_adaptive_estimate(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& theta,
                                                           Index r, double q, int xi, Method method = Method::recompute,
                                                           bool reciprocal = false) {
  using V = typename Cls::V;
  AdaptiveUfomValues<V> out;
  out.grad = fom(cls, theta, r);
  if (xi == 0) return out;
  std::vector<V>& g = out.grad;
  const std::vector<V> E = ufom_exact(ar, cls, theta, r, g, method);
  ufom_combine(ar, g, E, q, reciprocal);
  typename Ar::Acc v2 = ar.acc(), d2 = ar.acc();
  for (std::size_t i = 0; i < g.size(); ++i) {
    ar.accumulate(v2, ar.mul(E[i], E[i]));
    const V dev = ar.sub(g[i], E[i]);
    ar.accumulate(d2, ar.mul(dev, dev));
  }
  out.v2_sample = ar.total(v2);
  out.d2_sample = ar.total(d2);
  return out;
}

// fl(1 - beta^count), count >= 1, beta = fl(99/100), the power by multiplying by beta in turn.
template <class Ar>
typename Ar::V bias_correction(Ar& ar, Index count) {
  const typename Ar::V beta = ar.div(ar.input(99.0), ar.input(100.0));
  typename Ar::V power = beta;
  for (Index k = 1; k < count; ++k) power = ar.mul(power, beta);
  return ar.sub(ar.input(1.0), power);
}

// The state update of one exact branch, in this order: beta = fl(99/100), 1 - beta = fl(1/100);
// ema = fl(fl(beta ema) + fl((1 - beta) sample)); V2 = fl(ema_v2 / c), D2 = fl(ema_d2 / c) with
// c = bias_correction(n + 1); C_det = r + 1, C_rnd = fl(fl(r fl(r - 1)) / 2) + r; the threshold
// fl(fl(fl(0.5 C_rnd) V2) / fl(C_det + C_rnd)) against D2' = fl(D2 / 10); below it q2 = min(1,
// fl(fl(b + sqrt(fl(fl(b b) + fl(fl(4 a) fl(fl(2 D2') C_det))))) / fl(2 a))) with
// a = fl(fl(V2 - D2') C_rnd), b = fl(D2' C_rnd); q_next = max(fl(1/20), q2).
template <class V>
struct AdaptiveState {
  V q_next{}, ema_v2{}, ema_d2{}, v2{}, d2{};
};
template <class Ar>
AdaptiveState<typename Ar::V> adaptive_state(Ar& ar, const typename Ar::V& v2_sample, const typename Ar::V& d2_sample,
                                             double ema_v2, double ema_d2, Index exact_steps, Index r) {
  using V = typename Ar::V;
  AdaptiveState<V> s;
  const V one = ar.input(1.0), beta = ar.div(ar.input(99.0), ar.input(100.0)),
          one_minus_beta = ar.div(one, ar.input(100.0));
  s.ema_v2 = ar.add(ar.mul(beta, ar.input(ema_v2)), ar.mul(one_minus_beta, v2_sample));
  s.ema_d2 = ar.add(ar.mul(beta, ar.input(ema_d2)), ar.mul(one_minus_beta, d2_sample));
  const V correction = bias_correction(ar, exact_steps + 1);
  s.v2 = ar.div(s.ema_v2, correction);
  s.d2 = ar.div(s.ema_d2, correction);
  const V v2 = s.v2, d2 = ar.div(s.d2, ar.input(10.0));
  const V rv = ar.input(static_cast<double>(r));
  const V c_det = ar.add(rv, one);
  const V c_rnd = ar.add(ar.div(ar.mul(rv, ar.sub(rv, one)), ar.input(2.0)), rv);
  const V threshold = ar.div(ar.mul(ar.mul(ar.input(0.5), c_rnd), v2), ar.add(c_det, c_rnd));
  const V q2 = ar.at_least(
      d2, threshold, [&] { return one; },
      [&] {
        const V a = ar.mul(ar.sub(v2, d2), c_rnd);
        const V nb = ar.mul(d2, c_rnd);
        const V disc = ar.add(ar.mul(nb, nb), ar.mul(ar.mul(ar.input(4.0), a), ar.mul(ar.mul(ar.input(2.0), d2), c_det)));
        return ar.min(one, ar.div(ar.add(nb, ar.sqrt(disc)), ar.mul(ar.input(2.0), a)));
      });
  s.q_next = ar.max(ar.div(one, ar.input(20.0)), q2);
  return s;
}

// [BILEVEL-RIDGE-CPU] The ridge class on Ar: lambda_k = exp(theta_k) and alpha lambda_k computed
// once; X, y, X_val, y_val read as inputs. Products with X^T X / n: r_i = sum_k X_ik x_k (k order),
// (minus y_i for a gradient), then sum_i X_ik r_i (i order) divided by n.
template <class Ar>
class Ridge {
 public:
  using V = typename Ar::V;
  using Vec = std::vector<V>;
  static constexpr bool hvp_reads_phi = false;  // H = X^T X / n + diag(lambda); the theta term reads w_j
  template <class Fn>
  static std::vector<V> read(Ar& ar, Index rows, Index cols, const Fn& f) {
    std::vector<V> v;
    v.reserve(static_cast<std::size_t>(rows * cols));
    for (Index i = 0; i < rows; ++i)
      for (Index k = 0; k < cols; ++k) v.push_back(ar.input(f(i, k)));
    return v;
  }
  Ridge(Ar& ar, const RidgeProblem<double>& p)
      : ar_(ar), d_(p.dim()), n_(p.samples()), m_(p.val_samples()), alpha_(ar.input(p.in().alpha)) {
    const auto& in = p.in();
    x_ = read(ar, n_, d_, [&](Index i, Index k) { return in.X(i, k); });
    y_ = read(ar, n_, 1, [&](Index i, Index) { return in.y[i]; });
    xv_ = read(ar, m_, d_, [&](Index i, Index k) { return in.X_val(i, k); });
    yv_ = read(ar, m_, 1, [&](Index i, Index) { return in.y_val[i]; });
    for (Index k = 0; k < d_; ++k) {
      lambda_.push_back(ar.exp(ar.input(in.theta[k])));
      alpha_lambda_.push_back(ar.mul(alpha_, lambda_.back()));
    }
  }
  Index dim() const { return d_; }
  Counts& counts() { return counts_; }
  // X_val^T (X_val w - y_val) / m.
  Vec outer_gradient(const Vec& w) {
    ++counts_.outer_gradients;
    return normal_product(xv_, yv_, m_, w, true);
  }
  // w - alpha (X^T (X w - y) / n + lambda o w).
  Vec inner_step(const Vec& w) {
    ++counts_.inner_steps;
    const Vec g = normal_product(x_, y_, n_, w, true);
    Vec out;
    for (Index k = 0; k < d_; ++k)
      out.push_back(ar_.sub(w[k], ar_.mul(alpha_, ar_.add(g[k], ar_.mul(lambda_[k], w[k])))));
    return out;
  }
  // [BILEVEL-HVP-DEF] H v = X^T (X v) / n + lambda o v.
  Vec hessian_product(const Vec& v) const {
    const Vec g = normal_product(x_, y_, n_, v, false);
    Vec out;
    for (Index k = 0; k < d_; ++k) out.push_back(ar_.add(g[k], ar_.mul(lambda_[k], v[k])));
    return out;
  }
  // v - alpha H v, H = X^T X / n + diag(lambda).
  Vec hvp_step(const Vec& /*w*/, const Vec& v) {
    ++counts_.hvps;
    const Vec hv = hessian_product(v);
    Vec out;
    for (Index k = 0; k < d_; ++k) out.push_back(ar_.sub(v[k], ar_.mul(alpha_, hv[k])));
    return out;
  }
  // (alpha lambda_k) (w_k a_k): the k-th element of -(dU/dtheta)^T a at w.
  V theta_term(const Vec& w, const Vec& a, Index k) const { return ar_.mul(alpha_lambda_[k], ar_.mul(w[k], a[k])); }
  // (alpha lambda_t) w_t: -(dU/dtheta)(t, t) at w.
  V theta_tangent(const Vec& w, Index t) const { return ar_.mul(alpha_lambda_[t], w[t]); }

 private:
  Vec normal_product(const std::vector<V>& x, const std::vector<V>& y, Index rows, const Vec& w, bool subtract) const {
    Vec res;
    for (Index i = 0; i < rows; ++i) {
      typename Ar::Acc s = ar_.acc();
      for (Index k = 0; k < d_; ++k) ar_.accumulate(s, ar_.mul(x[i * d_ + k], w[k]));
      res.push_back(subtract ? ar_.sub(ar_.total(s), y[i]) : ar_.total(s));
    }
    const V count = ar_.input(static_cast<double>(rows));
    Vec g;
    for (Index k = 0; k < d_; ++k) {
      typename Ar::Acc s = ar_.acc();
      for (Index i = 0; i < rows; ++i) ar_.accumulate(s, ar_.mul(x[i * d_ + k], res[i]));
      g.push_back(ar_.div(ar_.total(s), count));
    }
    return g;
  }

  Ar& ar_;
  Index d_, n_, m_;
  V alpha_;
  std::vector<V> x_, y_, xv_, yv_, lambda_, alpha_lambda_;
  Counts counts_;
};

// embed-begin bilevel_ridge_order
// [BILEVEL-RIDGE-CPU] Reverse mode for a step that depends on theta, w_0 independent of theta:
// a = grad L_out(w_r), mu = 0; for j = r-1 .. 0: mu_k = mu_k - (alpha lambda_k)(w_jk a_k), then
// a = a - alpha H a; dM/dtheta = mu. w_j = w_at(j): stored, or recomputed from w_0.
template <class Ar, class Cls, class WAt>
std::vector<typename Cls::V> ridge_backward(Ar& ar, Cls& cls, Index r, std::vector<typename Cls::V> a, const WAt& w_at) {
  std::vector<typename Cls::V> mu;
  for (Index k = 0; k < cls.dim(); ++k) mu.push_back(ar.input(0.0));
  for (Index j = r - 1; j >= 0; --j) {
    const std::vector<typename Cls::V>& w = w_at(j);
    for (Index k = 0; k < cls.dim(); ++k) mu[k] = ar.sub(mu[k], cls.theta_term(w, a, k));
    a = cls.hvp_step(w, a);
  }
  return mu;
}

template <class Ar, class Cls>
std::vector<typename Cls::V> ridge_exact(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& w0, Index r, Method method) {
  using Vec = std::vector<typename Cls::V>;
  if (method == Method::forward) {
    // Tangents Z = dw/dtheta, Z_0 = 0: Z e_t = Z e_t - alpha H Z e_t, then its t-th element minus
    // (alpha lambda_t) w_jt; dM/dtheta_t = sum_k Z(k, t) g_k in k order.
    const Index d = cls.dim();
    std::vector<Vec> z(static_cast<std::size_t>(d), Vec(static_cast<std::size_t>(d), ar.input(0.0)));
    Vec w = w0;
    for (Index j = 0; j < r; ++j) {
      for (Index t = 0; t < d; ++t) {
        Vec& col = z[static_cast<std::size_t>(t)];
        col = cls.hvp_step(w, col);
        col[t] = ar.sub(col[t], cls.theta_tangent(w, t));
      }
      w = cls.inner_step(w);
    }
    const Vec g = cls.outer_gradient(w);
    Vec out;
    for (Index t = 0; t < d; ++t) {
      typename Ar::Acc s = ar.acc();
      for (Index k = 0; k < d; ++k) ar.accumulate(s, ar.mul(z[static_cast<std::size_t>(t)][k], g[k]));
      out.push_back(ar.total(s));
    }
    return out;
  }
  if (method == Method::stored) {
    std::vector<Vec> stored;
    Vec w = w0;
    for (Index j = 0; j < r; ++j) {
      stored.push_back(w);
      w = cls.inner_step(w);
    }
    return ridge_backward(ar, cls, r, cls.outer_gradient(w), [&](Index j) -> const Vec& { return stored[static_cast<std::size_t>(j)]; });
  }
  Vec recomputed;
  return ridge_backward(ar, cls, r, cls.outer_gradient(unroll(cls, w0, r)), [&](Index j) -> const Vec& {
    recomputed = unroll(cls, w0, j);
    return recomputed;
  });
}
// embed-end bilevel_ridge_order


// [BILEVEL-LOGISTIC-CPU] The logistic class on Ar: lambda_k = exp(theta_k) and alpha lambda_k once;
// X, y, X_val, y_val read as inputs. At a point w: z_i = sum_k X_ik w_k (k order), s_i = sigmoid(z_i).
// Gradient: sum_i X_ik (s_i - y_i) (i order) / n. Hessian-vector product at w:
// u_i = sum_k X_ik v_k (k order), t_i = fl(fl(s_i fl(1 - s_i)) u_i), sum_i X_ik t_i (i order) / n,
// plus lambda_k v_k. The same interface as Ridge, so ridge_exact runs it; its HVP reads w.
// embed-begin bilevel_logistic_order
template <class Ar>
class Logistic {
 public:
  using V = typename Ar::V;
  using Vec = std::vector<V>;
  static constexpr bool hvp_reads_phi = true;
  Logistic(Ar& ar, const RidgeProblem<double>& p)
      : ar_(ar), d_(p.dim()), n_(p.samples()), m_(p.val_samples()), alpha_(ar.input(p.in().alpha)) {
    const auto& in = p.in();
    x_ = Ridge<Ar>::read(ar, n_, d_, [&](Index i, Index k) { return in.X(i, k); });
    y_ = Ridge<Ar>::read(ar, n_, 1, [&](Index i, Index) { return in.y[i]; });
    xv_ = Ridge<Ar>::read(ar, m_, d_, [&](Index i, Index k) { return in.X_val(i, k); });
    yv_ = Ridge<Ar>::read(ar, m_, 1, [&](Index i, Index) { return in.y_val[i]; });
    for (Index k = 0; k < d_; ++k) {
      lambda_.push_back(ar.exp(ar.input(in.theta[k])));
      alpha_lambda_.push_back(ar.mul(alpha_, lambda_.back()));
    }
  }
  Index dim() const { return d_; }
  Counts& counts() { return counts_; }
  // X_val^T (sigmoid(X_val w) - y_val) / m.
  Vec outer_gradient(const Vec& w) {
    ++counts_.outer_gradients;
    return cross_entropy_gradient(xv_, yv_, m_, w);
  }
  // w - alpha (X^T (sigmoid(X w) - y) / n + lambda o w).
  Vec inner_step(const Vec& w) {
    ++counts_.inner_steps;
    const Vec g = cross_entropy_gradient(x_, y_, n_, w);
    Vec out;
    for (Index k = 0; k < d_; ++k)
      out.push_back(ar_.sub(w[k], ar_.mul(alpha_, ar_.add(g[k], ar_.mul(lambda_[k], w[k])))));
    return out;
  }
  // [BILEVEL-HVP-DEF] H(w) v = X^T (sigmoid'(X w) o (X v)) / n + lambda o v.
  Vec hessian_product(const Vec& w, const Vec& v) const {
    Vec t;
    for (Index i = 0; i < n_; ++i) {
      typename Ar::Acc zs = ar_.acc(), us = ar_.acc();
      for (Index k = 0; k < d_; ++k) ar_.accumulate(zs, ar_.mul(x_[i * d_ + k], w[k]));
      for (Index k = 0; k < d_; ++k) ar_.accumulate(us, ar_.mul(x_[i * d_ + k], v[k]));
      const V s = ar_.sigmoid(ar_.total(zs));
      t.push_back(ar_.mul(ar_.mul(s, ar_.sub(ar_.input(1.0), s)), ar_.total(us)));
    }
    const V count = ar_.input(static_cast<double>(n_));
    Vec out;
    for (Index k = 0; k < d_; ++k) {
      typename Ar::Acc s = ar_.acc();
      for (Index i = 0; i < n_; ++i) ar_.accumulate(s, ar_.mul(x_[i * d_ + k], t[i]));
      out.push_back(ar_.add(ar_.div(ar_.total(s), count), ar_.mul(lambda_[k], v[k])));
    }
    return out;
  }
  // v - alpha H(w) v.
  Vec hvp_step(const Vec& w, const Vec& v) {
    ++counts_.hvps;
    const Vec hv = hessian_product(w, v);
    Vec out;
    for (Index k = 0; k < d_; ++k) out.push_back(ar_.sub(v[k], ar_.mul(alpha_, hv[k])));
    return out;
  }
  V theta_term(const Vec& w, const Vec& a, Index k) const { return ar_.mul(alpha_lambda_[k], ar_.mul(w[k], a[k])); }
  V theta_tangent(const Vec& w, Index t) const { return ar_.mul(alpha_lambda_[t], w[t]); }

 private:
  Vec cross_entropy_gradient(const std::vector<V>& x, const std::vector<V>& y, Index rows, const Vec& w) const {
    Vec res;
    for (Index i = 0; i < rows; ++i) {
      typename Ar::Acc s = ar_.acc();
      for (Index k = 0; k < d_; ++k) ar_.accumulate(s, ar_.mul(x[i * d_ + k], w[k]));
      res.push_back(ar_.sub(ar_.sigmoid(ar_.total(s)), y[i]));
    }
    const V count = ar_.input(static_cast<double>(rows));
    Vec g;
    for (Index k = 0; k < d_; ++k) {
      typename Ar::Acc s = ar_.acc();
      for (Index i = 0; i < rows; ++i) ar_.accumulate(s, ar_.mul(x[i * d_ + k], res[i]));
      g.push_back(ar_.div(ar_.total(s), count));
    }
    return g;
  }

  Ar& ar_;
  Index d_, n_, m_;
  V alpha_;
  std::vector<V> x_, y_, xv_, yv_, lambda_, alpha_lambda_;
  Counts counts_;
};

// [BILEVEL-LOGISTIC-FOM] F_k = 0 - (alpha lambda_k) fl(S_k g_k), S = sum_j w_j (j order, w_0 .. w_{r-1}),
// g = grad L_out(w_r): the r inner steps and no Hessian-vector product, O(dim) memory.
template <class Ar, class Cls>
std::vector<typename Cls::V> theta_fom(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& w0, Index r) {
  const Index d = cls.dim();
  std::vector<typename Ar::Acc> sums(static_cast<std::size_t>(d), ar.acc());
  std::vector<typename Cls::V> w = w0;
  for (Index j = 0; j < r; ++j) {
    for (Index k = 0; k < d; ++k) ar.accumulate(sums[static_cast<std::size_t>(k)], w[k]);
    w = cls.inner_step(w);
  }
  const std::vector<typename Cls::V> g = cls.outer_gradient(w);
  std::vector<typename Cls::V> s, out;
  for (Index k = 0; k < d; ++k) s.push_back(ar.total(sums[static_cast<std::size_t>(k)]));
  for (Index k = 0; k < d; ++k) out.push_back(ar.sub(ar.input(0.0), cls.theta_term(s, g, k)));
  return out;
}

// [BILEVEL-LOGISTIC-UFOM] g = F + fl(fl(E - F) / q) when xi = 1 (E by `method`; the backends
// recompute), g = F when xi = 0; `reciprocal`: (E - F) times fl(1 / q) (the bounds only).
template <class Ar, class Cls>
std::vector<typename Cls::V> theta_ufom(Ar& ar, Cls& cls, const std::vector<typename Cls::V>& w0, Index r, double q,
                                        int xi, Method method = Method::recompute, bool reciprocal = false) {
  std::vector<typename Cls::V> F = theta_fom(ar, cls, w0, r);
  if (xi == 0) return F;
  const std::vector<typename Cls::V> E = ridge_exact(ar, cls, w0, r, method);
  ufom_combine(ar, F, E, q, reciprocal);
  return F;
}
// embed-end bilevel_logistic_order


// [BILEVEL-MAML-CPU] The MAML sinusoid class on Ar: the MLP 1-h-h-1 with ReLU, the support points
// (inner loss) and query points (outer loss) read as inputs. Per point x: a1_o = fl(W1_o x) + b1_o,
// a2_o = sum_i W2_oi z1_i (i order) + b2_o as the sum's last term, out = sum_i W3_i z2_i + b3
// likewise; e = fl(fl(2 fl(out - y)) / K). Every gradient (and Hessian-vector product) element is
// one sum over the points in point order of its per-point terms (two products per point where the
// HVP's product rule gives two). The HVP is the directional derivative of the gradient along v
// (forward tangents, then backward tangents), relu'' = 0.
// embed-begin bilevel_maml_order
template <class Ar>
class Mlp {
 public:
  using V = typename Ar::V;
  using Vec = std::vector<V>;
  static constexpr bool hvp_reads_phi = true;
  Mlp(Ar& ar, const MamlProblem<double>& p)
      : ar_(ar), h_(p.hidden()), P_(p.dim()), alpha_(ar.input(p.in().alpha)), two_(ar.input(2.0)) {
    const auto& in = p.in();
    for (Index i = 0; i < in.x_support.count(); ++i) {
      xs_.push_back(ar.input(in.x_support[i]));
      ys_.push_back(ar.input(in.y_support[i]));
    }
    for (Index i = 0; i < in.x_query.count(); ++i) {
      xq_.push_back(ar.input(in.x_query[i]));
      yq_.push_back(ar.input(in.y_query[i]));
    }
  }
  Index dim() const { return P_; }
  Counts& counts() { return counts_; }
  Vec outer_gradient(const Vec& phi) {
    ++counts_.outer_gradients;
    return pass(phi, nullptr, xq_, yq_);
  }
  Vec inner_step(const Vec& phi) {
    ++counts_.inner_steps;
    const Vec g = pass(phi, nullptr, xs_, ys_);
    Vec out;
    for (Index k = 0; k < P_; ++k) out.push_back(ar_.sub(phi[k], ar_.mul(alpha_, g[k])));
    return out;
  }
  // [BILEVEL-HVP-DEF] H(phi) v of the support loss.
  Vec hessian_product(const Vec& phi, const Vec& v) { return pass(phi, &v, xs_, ys_); }
  Vec hvp_step(const Vec& phi, const Vec& v) {
    ++counts_.hvps;
    const Vec hv = pass(phi, &v, xs_, ys_);
    Vec out;
    for (Index k = 0; k < P_; ++k) out.push_back(ar_.sub(v[k], ar_.mul(alpha_, hv[k])));
    return out;
  }

 private:
  // The gradient of the points' mean squared error at phi (v null), or H(phi) v.
  Vec pass(const Vec& phi, const Vec* vp, const Vec& xs, const Vec& ys) const {
    const Index h = h_;
    const Index w1 = 0, b1 = h, w2 = 2 * h, b2 = 2 * h + h * h, w3 = 3 * h + h * h, b3 = 4 * h + h * h;
    std::vector<typename Ar::Acc> acc(static_cast<std::size_t>(P_), ar_.acc());
    auto add = [&](Index k, const V& t) { ar_.accumulate(acc[static_cast<std::size_t>(k)], t); };
    const V count = ar_.input(static_cast<double>(xs.size()));
    for (std::size_t n = 0; n < xs.size(); ++n) {
      const V& x = xs[n];
      Vec a1, m1, z1, m2, z2;
      for (Index o = 0; o < h; ++o) {
        a1.push_back(ar_.add(ar_.mul(phi[w1 + o], x), phi[b1 + o]));
        m1.push_back(ar_.relu_mask(a1.back()));
        z1.push_back(ar_.masked(m1.back(), a1.back()));
      }
      for (Index o = 0; o < h; ++o) {
        typename Ar::Acc s = ar_.acc();
        for (Index i = 0; i < h; ++i) ar_.accumulate(s, ar_.mul(phi[w2 + o * h + i], z1[i]));
        ar_.accumulate(s, phi[b2 + o]);
        const V a2 = ar_.total(s);
        m2.push_back(ar_.relu_mask(a2));
        z2.push_back(ar_.masked(m2.back(), a2));
      }
      typename Ar::Acc so = ar_.acc();
      for (Index i = 0; i < h; ++i) ar_.accumulate(so, ar_.mul(phi[w3 + i], z2[i]));
      ar_.accumulate(so, phi[b3]);
      const V e = ar_.div(ar_.mul(two_, ar_.sub(ar_.total(so), ys[n])), count);
      Vec da2, da1;
      for (Index i = 0; i < h; ++i) da2.push_back(ar_.masked(m2[i], ar_.mul(phi[w3 + i], e)));
      for (Index i = 0; i < h; ++i) {
        typename Ar::Acc s = ar_.acc();
        for (Index o = 0; o < h; ++o) ar_.accumulate(s, ar_.mul(phi[w2 + o * h + i], da2[o]));
        da1.push_back(ar_.masked(m1[i], ar_.total(s)));
      }
      if (!vp) {
        add(b3, e);
        for (Index i = 0; i < h; ++i) add(w3 + i, ar_.mul(e, z2[i]));
        for (Index o = 0; o < h; ++o) {
          add(b2 + o, da2[o]);
          for (Index i = 0; i < h; ++i) add(w2 + o * h + i, ar_.mul(da2[o], z1[i]));
        }
        for (Index i = 0; i < h; ++i) {
          add(w1 + i, ar_.mul(da1[i], x));
          add(b1 + i, da1[i]);
        }
        continue;
      }
      const Vec& v = *vp;
      Vec rz1, rz2, rda2;
      for (Index o = 0; o < h; ++o) rz1.push_back(ar_.masked(m1[o], ar_.add(ar_.mul(v[w1 + o], x), v[b1 + o])));
      for (Index o = 0; o < h; ++o) {
        typename Ar::Acc s = ar_.acc();
        for (Index i = 0; i < h; ++i) {
          ar_.accumulate(s, ar_.mul(v[w2 + o * h + i], z1[i]));
          ar_.accumulate(s, ar_.mul(phi[w2 + o * h + i], rz1[i]));
        }
        ar_.accumulate(s, v[b2 + o]);
        rz2.push_back(ar_.masked(m2[o], ar_.total(s)));
      }
      typename Ar::Acc sr = ar_.acc();
      for (Index i = 0; i < h; ++i) {
        ar_.accumulate(sr, ar_.mul(v[w3 + i], z2[i]));
        ar_.accumulate(sr, ar_.mul(phi[w3 + i], rz2[i]));
      }
      ar_.accumulate(sr, v[b3]);
      const V re = ar_.div(ar_.mul(two_, ar_.total(sr)), count);
      add(b3, re);
      for (Index i = 0; i < h; ++i) {
        add(w3 + i, ar_.mul(re, z2[i]));
        add(w3 + i, ar_.mul(e, rz2[i]));
        typename Ar::Acc s = ar_.acc();
        ar_.accumulate(s, ar_.mul(v[w3 + i], e));
        ar_.accumulate(s, ar_.mul(phi[w3 + i], re));
        rda2.push_back(ar_.masked(m2[i], ar_.total(s)));
      }
      for (Index o = 0; o < h; ++o) {
        add(b2 + o, rda2[o]);
        for (Index i = 0; i < h; ++i) {
          add(w2 + o * h + i, ar_.mul(rda2[o], z1[i]));
          add(w2 + o * h + i, ar_.mul(da2[o], rz1[i]));
        }
      }
      for (Index i = 0; i < h; ++i) {
        typename Ar::Acc s = ar_.acc();
        for (Index o = 0; o < h; ++o) {
          ar_.accumulate(s, ar_.mul(v[w2 + o * h + i], da2[o]));
          ar_.accumulate(s, ar_.mul(phi[w2 + o * h + i], rda2[o]));
        }
        const V rda1 = ar_.masked(m1[i], ar_.total(s));
        add(w1 + i, ar_.mul(rda1, x));
        add(b1 + i, rda1);
      }
    }
    Vec out;
    for (Index k = 0; k < P_; ++k) out.push_back(ar_.total(acc[static_cast<std::size_t>(k)]));
    return out;
  }

  Ar& ar_;
  Index h_, P_;
  V alpha_, two_;
  Vec xs_, ys_, xq_, yq_;
  Counts counts_;
};
// embed-end bilevel_maml_order

}  // namespace touchstone::bilevel::order
