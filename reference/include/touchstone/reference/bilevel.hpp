// The bilevel family's oracles (spec/bilevel.md), written as the spec defines each quantity: the
// inner loop unrolled step by step, the exact hypergradient by reverse mode over the stored
// trajectory, FOM, UFOM with the coin given, the quadratic closed form (a second, independent
// oracle the family tests compare against), the ridge class, Hessian-vector products and the
// optimal-q closed forms. Templated on the scalar; instantiated once
// (reference/src/bilevel_reference.cpp) for mp_real (the oracle) and double (tests).
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/bilevel_problem.hpp"

namespace touchstone::bilevel::reference {

template <class Real>
using Vec = std::vector<Real>;

// embed-begin bilevel_reference
// [BILEVEL-QUAD-DEF] grad L(phi) = A (phi - c): the gradient of the inner loss and, the outer
// loss being the same quadratic, of the outer loss.
template <class Real>
Vec<Real> quadratic_gradient(const QuadraticProblem<double>& p, const Vec<Real>& phi) {
  const auto& in = p.in();
  const Index d = p.dim();
  Vec<Real> g(static_cast<std::size_t>(d), Real(0));
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k < d; ++k) g[i] += Real(in.A(i, k)) * (phi[k] - Real(in.c[k]));
  return g;
}

// [BILEVEL-QUAD-DEF] H(phi) v = A v (the Hessian of the quadratic does not depend on phi).
template <class Real>
Vec<Real> quadratic_hvp(const QuadraticProblem<double>& p, const Vec<Real>& /*phi*/, const Vec<Real>& v) {
  const auto& in = p.in();
  const Index d = p.dim();
  Vec<Real> h(static_cast<std::size_t>(d), Real(0));
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k < d; ++k) h[i] += Real(in.A(i, k)) * v[k];
  return h;
}

// [BILEVEL-INNER-DEF] phi_0 = theta, phi_{j+1} = phi_j - alpha grad L_in(phi_j): the trajectory
// phi_0 .. phi_r.
template <class Real>
std::vector<Vec<Real>> trajectory(const QuadraticProblem<double>& p) {
  const auto& in = p.in();
  const Index d = p.dim();
  const Real alpha(in.alpha);
  std::vector<Vec<Real>> phi;
  phi.reserve(static_cast<std::size_t>(p.steps() + 1));
  Vec<Real> x(static_cast<std::size_t>(d));
  for (Index i = 0; i < d; ++i) x[i] = Real(in.theta[i]);
  phi.push_back(x);
  for (Index j = 0; j < p.steps(); ++j) {
    const Vec<Real> g = quadratic_gradient<Real>(p, phi.back());
    for (Index i = 0; i < d; ++i) x[i] = phi.back()[i] - alpha * g[i];
    phi.push_back(x);
  }
  return phi;
}

// [BILEVEL-QUAD-DEF] M(theta) = L_out(phi_r) = 1/2 (phi_r - c)^T A (phi_r - c).
template <class Real>
Real outer_loss(const QuadraticProblem<double>& p) {
  const Vec<Real> phi = trajectory<Real>(p).back();
  const Vec<Real> g = quadratic_gradient<Real>(p, phi);
  Real m(0);
  for (Index i = 0; i < p.dim(); ++i) m += (phi[i] - Real(p.in().c[i])) * g[i];
  return m / Real(2);
}

// [BILEVEL-FOM-DEF] F = grad L_out(phi_r): dphi_r/dtheta replaced by I.
template <class Real>
Tensor<Real> fom(const QuadraticProblem<double>& p) {
  const Vec<Real> g = quadratic_gradient<Real>(p, trajectory<Real>(p).back());
  return Tensor<Real>(Shape{p.dim()}, g);
}

// [BILEVEL-EXACT-DEF] E = dM/dtheta by reverse mode over the stored trajectory:
// lambda_r = grad L_out(phi_r), lambda_j = lambda_{j+1} - alpha H(phi_j) lambda_{j+1}, E = lambda_0.
template <class Real>
Tensor<Real> exact_hypergradient(const QuadraticProblem<double>& p) {
  const std::vector<Vec<Real>> phi = trajectory<Real>(p);
  const Real alpha(p.in().alpha);
  Vec<Real> lambda = quadratic_gradient<Real>(p, phi.back());
  for (Index j = p.steps() - 1; j >= 0; --j) {
    const Vec<Real> h = quadratic_hvp<Real>(p, phi[static_cast<std::size_t>(j)], lambda);
    for (Index i = 0; i < p.dim(); ++i) lambda[i] = lambda[i] - alpha * h[i];
  }
  return Tensor<Real>(Shape{p.dim()}, lambda);
}

// [BILEVEL-RECOMPUTE] The same backward pass with each phi_j recomputed from theta (j steps)
// instead of stored: in exact arithmetic (and at any one precision) the same operations on the
// same values as exact_hypergradient.
template <class Real>
Tensor<Real> exact_hypergradient_recompute(const QuadraticProblem<double>& p) {
  const Real alpha(p.in().alpha);
  Vec<Real> lambda = quadratic_gradient<Real>(p, trajectory<Real>(p).back());
  for (Index j = p.steps() - 1; j >= 0; --j) {
    const QuadraticProblem<double> first_j({p.in().A, p.in().c, p.in().theta, p.in().alpha, j});
    const Vec<Real> h = quadratic_hvp<Real>(p, trajectory<Real>(first_j).back(), lambda);
    for (Index i = 0; i < p.dim(); ++i) lambda[i] = lambda[i] - alpha * h[i];
  }
  return Tensor<Real>(Shape{p.dim()}, lambda);
}

// [BILEVEL-FORWARD-DEF] Forward mode: Z_0 = I, Z_{j+1} = Z_j - alpha H(phi_j) Z_j,
// E = Z_r^T grad L_out(phi_r). A different association of the same product of Jacobians.
template <class Real>
Tensor<Real> exact_hypergradient_forward(const QuadraticProblem<double>& p) {
  const Index d = p.dim();
  const std::vector<Vec<Real>> phi = trajectory<Real>(p);
  const Real alpha(p.in().alpha);
  std::vector<Vec<Real>> z(static_cast<std::size_t>(d), Vec<Real>(static_cast<std::size_t>(d), Real(0)));
  for (Index t = 0; t < d; ++t) z[t][t] = Real(1);
  for (Index j = 0; j < p.steps(); ++j)
    for (Index t = 0; t < d; ++t) {
      const Vec<Real> h = quadratic_hvp<Real>(p, phi[static_cast<std::size_t>(j)], z[t]);
      for (Index i = 0; i < d; ++i) z[t][i] = z[t][i] - alpha * h[i];
    }
  const Vec<Real> g = quadratic_gradient<Real>(p, phi.back());
  Tensor<Real> out(Shape{d}, Real(0));
  for (Index t = 0; t < d; ++t)
    for (Index k = 0; k < d; ++k) out[t] += z[t][k] * g[k];
  return out;
}

// [BILEVEL-UFOM-DEF] g = F + (xi / q) (E - F); with xi = 0, g = F and E is not needed.
template <class Real>
Tensor<Real> ufom(const UfomProblem<double>& u) {
  Tensor<Real> F = fom<Real>(u.quad());
  if (u.xi() == 0) return F;
  const Tensor<Real> E = exact_hypergradient<Real>(u.quad());
  const Real w = Real(u.xi()) / Real(u.q());
  for (Index i = 0; i < F.count(); ++i) F[i] = F[i] + w * (E[i] - F[i]);
  return F;
}
// embed-end bilevel_reference

// [BILEVEL-UFOM-ADAPTIVE] One step of adaptive UFOM as the authors' code adapts q (reptile.py,
// exact_prob < 0; the constants are the code's choices, exact here): g as UFOM with the given q and
// xi; with xi = 1 the EMAs (beta = 99/100) take the samples |E|^2 and |g - E|^2, the bias correction
// divides by 1 - beta^(n + 1) (n = exact_steps, the exact branches before this one), D2 is divided
// by 10 (the heuristic; the output d2 is before it), and q_next = max(1/20, q2) with q2 = 1 when D2 >= C_rnd V2 / (2 (C_det + C_rnd)), else the
// positive root of (V2 - D2) C_rnd q^2 - D2 C_rnd q - 2 D2 C_det, C_det = r + 1, C_rnd =
// r (r - 1)/2 + r. With xi = 0 the state is unchanged (q_next = q).
template <class Real>
AdaptiveUfomResult<Real> ufom_adaptive(const AdaptiveUfomProblem<double>& a) {
  using std::sqrt;
  const UfomProblem<double>& u = a.ufom();
  AdaptiveUfomResult<Real> out;
  out.grad = fom<Real>(u.quad());
  out.q_next = Real(u.q());
  out.ema_v2_next = Real(a.ema_v2());
  out.ema_d2_next = Real(a.ema_d2());
  const Real beta = Real(99) / Real(100);
  auto correction = [&](Index count) {
    Real power(1);
    for (Index k = 0; k < count; ++k) power *= beta;
    return 1 - power;
  };
  if (u.xi() == 0) {
    if (a.exact_steps() > 0) {
      const Real c = correction(a.exact_steps());
      out.v2 = out.ema_v2_next / c;
      out.d2 = out.ema_d2_next / c;
    }
    return out;
  }
  const Tensor<Real> E = exact_hypergradient<Real>(u.quad());
  Real v2_sample(0), d2_sample(0);
  for (Index i = 0; i < E.count(); ++i) {
    out.grad[i] = out.grad[i] + (E[i] - out.grad[i]) / Real(u.q());
    v2_sample += E[i] * E[i];
    d2_sample += (out.grad[i] - E[i]) * (out.grad[i] - E[i]);
  }
  out.ema_v2_next = beta * Real(a.ema_v2()) + (1 - beta) * v2_sample;
  out.ema_d2_next = beta * Real(a.ema_d2()) + (1 - beta) * d2_sample;
  const Real c = correction(a.exact_steps() + 1);
  out.v2 = out.ema_v2_next / c;
  out.d2 = out.ema_d2_next / c;
  const Real v2 = out.v2, d2 = out.d2 / 10;
  const Real r(static_cast<double>(u.quad().steps()));
  const Real c_det = r + 1, c_rnd = r * (r - 1) / 2 + r;
  Real q2(1);
  if (!(d2 >= c_rnd * v2 / (2 * (c_det + c_rnd)))) {
    const Real lead = (v2 - d2) * c_rnd;  // > 0 here: d2 < v2 / 2
    q2 = (d2 * c_rnd + sqrt(d2 * d2 * c_rnd * c_rnd + 8 * lead * d2 * c_det)) / (2 * lead);
    if (q2 > 1) q2 = Real(1);
  }
  const Real q_min = Real(1) / Real(20);
  out.q_next = q2 < q_min ? q_min : q2;
  return out;
}

// [BILEVEL-QUAD-CLOSED] The closed form, independent of the unrolled loop: P = (I - alpha A)^r as a
// matrix power, phi_r = c + P (theta - c), E = P^T A P (theta - c), F = A P (theta - c).
template <class Real>
struct ClosedForm {
  Tensor<Real> P, phi_r, E, F;
};

template <class Real>
ClosedForm<Real> closed_form(const QuadraticProblem<double>& p) {
  const auto& in = p.in();
  const Index d = p.dim();
  const Real alpha(in.alpha);
  Tensor<Real> S(Shape{d, d}), P(Shape{d, d}, Real(0));
  for (Index i = 0; i < d; ++i) {
    P(i, i) = Real(1);
    for (Index k = 0; k < d; ++k) S(i, k) = Real(i == k ? 1 : 0) - alpha * Real(in.A(i, k));
  }
  for (Index j = 0; j < p.steps(); ++j) {
    Tensor<Real> next(Shape{d, d}, Real(0));
    for (Index i = 0; i < d; ++i)
      for (Index k = 0; k < d; ++k)
        for (Index l = 0; l < d; ++l) next(i, k) += S(i, l) * P(l, k);
    P = std::move(next);
  }
  ClosedForm<Real> out{P, Tensor<Real>(Shape{d}, Real(0)), Tensor<Real>(Shape{d}, Real(0)),
                       Tensor<Real>(Shape{d}, Real(0))};
  Vec<Real> dev(static_cast<std::size_t>(d), Real(0));  // P (theta - c)
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k < d; ++k) dev[i] += P(i, k) * (Real(in.theta[k]) - Real(in.c[k]));
  for (Index i = 0; i < d; ++i) out.phi_r[i] = Real(in.c[i]) + dev[i];
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k < d; ++k) out.F[i] += Real(in.A(i, k)) * dev[k];
  for (Index i = 0; i < d; ++i)
    for (Index k = 0; k < d; ++k) out.E[i] += P(k, i) * out.F[k];  // P^T F
  return out;
}

// [BILEVEL-RIDGE-DEF] The ridge class: lambda = exp(theta),
// L_in(w; theta) = |X w - y|^2 / (2n) + sum_k lambda_k w_k^2 / 2, L_out(w) = |X_val w - y_val|^2 / (2m),
// w_0 = w0 (not theta), w_{j+1} = w_j - alpha grad_w L_in(w_j; theta). The step depends on theta
// through dU_j/dtheta = -alpha diag(lambda o w_j); dU_j/dw = I - alpha H, H = X^T X / n + diag(lambda).
// embed-begin bilevel_ridge_reference
template <class Real>
Vec<Real> least_squares_gradient(const Tensor<double>& X, const Tensor<double>& y, const Vec<Real>& w, bool subtract_y) {
  const Index n = X.extent(0), d = X.extent(1);
  Vec<Real> res(static_cast<std::size_t>(n), Real(0)), g(static_cast<std::size_t>(d), Real(0));
  for (Index i = 0; i < n; ++i) {
    for (Index k = 0; k < d; ++k) res[i] += Real(X(i, k)) * w[k];
    if (subtract_y) res[i] -= Real(y[i]);
  }
  for (Index k = 0; k < d; ++k) {
    for (Index i = 0; i < n; ++i) g[k] += Real(X(i, k)) * res[i];
    g[k] /= Real(n);
  }
  return g;
}

template <class Real>
std::vector<Vec<Real>> ridge_trajectory(const RidgeProblem<double>& p) {
  using std::exp;
  const auto& in = p.in();
  const Index d = p.dim();
  Vec<Real> lambda(static_cast<std::size_t>(d)), w(static_cast<std::size_t>(d));
  for (Index k = 0; k < d; ++k) {
    lambda[k] = exp(Real(in.theta[k]));
    w[k] = Real(in.w0[k]);
  }
  std::vector<Vec<Real>> traj{w};
  for (Index j = 0; j < p.steps(); ++j) {
    const Vec<Real> g = least_squares_gradient<Real>(in.X, in.y, w, true);
    for (Index k = 0; k < d; ++k) w[k] = w[k] - Real(in.alpha) * (g[k] + lambda[k] * w[k]);
    traj.push_back(w);
  }
  return traj;
}

// [BILEVEL-RIDGE-DEF] dM/dtheta by reverse mode over the stored trajectory: a = grad L_out(w_r),
// mu = 0; for j = r-1 .. 0: mu = mu - alpha lambda o w_j o a, a = a - alpha H a; dM/dtheta = mu
// (w_0 does not depend on theta).
template <class Real>
Tensor<Real> ridge_hypergradient(const RidgeProblem<double>& p) {
  using std::exp;
  const auto& in = p.in();
  const Index d = p.dim();
  const std::vector<Vec<Real>> w = ridge_trajectory<Real>(p);
  Vec<Real> a = least_squares_gradient<Real>(in.X_val, in.y_val, w.back(), true), mu(static_cast<std::size_t>(d), Real(0));
  for (Index j = p.steps() - 1; j >= 0; --j) {
    const Vec<Real> h = least_squares_gradient<Real>(in.X, in.y, a, false);
    for (Index k = 0; k < d; ++k) {
      const Real lambda = exp(Real(in.theta[k]));
      mu[k] -= Real(in.alpha) * lambda * w[static_cast<std::size_t>(j)][k] * a[k];
      a[k] = a[k] - Real(in.alpha) * (h[k] + lambda * a[k]);
    }
  }
  return Tensor<Real>(Shape{d}, mu);
}

// [BILEVEL-RIDGE-DEF] M(theta) = |X_val w_r - y_val|^2 / (2m).
template <class Real>
Real ridge_outer_loss(const RidgeProblem<double>& p) {
  const auto& in = p.in();
  const Vec<Real> w = ridge_trajectory<Real>(p).back();
  Real m(0);
  for (Index i = 0; i < p.val_samples(); ++i) {
    Real res(0);
    for (Index k = 0; k < p.dim(); ++k) res += Real(in.X_val(i, k)) * w[k];
    res -= Real(in.y_val[i]);
    m += res * res;
  }
  return m / Real(2 * p.val_samples());
}
// embed-end bilevel_ridge_reference

// [BILEVEL-LOGISTIC-DEF] The logistic class: lambda = exp(theta), z = X w,
// L_in(w; theta) = (1/n) sum_i (softplus(z_i) - y_i z_i) + sum_k lambda_k w_k^2 / 2,
// L_out(w) = (1/m) sum_i (softplus(z_val_i) - y_val_i z_val_i), w_0 = w0,
// w_{j+1} = w_j - alpha grad_w L_in(w_j; theta). grad_w L_in = X^T (sigmoid(X w) - y) / n + lambda o w;
// H(w) = X^T diag(sigmoid'(X w)) X / n + diag(lambda), sigmoid' = sigmoid (1 - sigmoid), which reads w.
// The elementary functions of a scalar type, a customization point: the tests specialize it for
// Boost's forward-mode autodiff over MPFR (whose own exp does not compile for an MPFR number).
template <class Real>
struct LogisticMath {
  static Real exp(const Real& x) {
    using std::exp;
    return exp(x);
  }
  static Real sigmoid(const Real& z) {
    using std::exp;
    return Real(1) / (Real(1) + exp(-z));
  }
  static Real softplus(const Real& z) {
    using std::exp;
    using std::log;
    return log(Real(1) + exp(z));
  }
};

// embed-begin bilevel_logistic_reference
// X^T (sigmoid(X w) - y) / rows: the cross-entropy's gradient at w.
template <class Real>
Vec<Real> cross_entropy_gradient(const Tensor<double>& X, const Tensor<double>& y, const Vec<Real>& w) {
  const Index n = X.extent(0), d = X.extent(1);
  Vec<Real> res(static_cast<std::size_t>(n), Real(0)), g(static_cast<std::size_t>(d), Real(0));
  for (Index i = 0; i < n; ++i) {
    Real z(0);
    for (Index k = 0; k < d; ++k) z += Real(X(i, k)) * w[k];
    res[i] = LogisticMath<Real>::sigmoid(z) - Real(y[i]);
  }
  for (Index k = 0; k < d; ++k) {
    for (Index i = 0; i < n; ++i) g[k] += Real(X(i, k)) * res[i];
    g[k] /= Real(n);
  }
  return g;
}

// H(w) v = X^T (sigmoid'(X w) o (X v)) / n + lambda o v.
template <class Real>
Vec<Real> logistic_hessian_product(const Tensor<double>& X, const Vec<Real>& lambda, const Vec<Real>& w,
                                   const Vec<Real>& v) {
  const Index n = X.extent(0), d = X.extent(1);
  Vec<Real> t(static_cast<std::size_t>(n), Real(0)), h(static_cast<std::size_t>(d), Real(0));
  for (Index i = 0; i < n; ++i) {
    Real z(0), u(0);
    for (Index k = 0; k < d; ++k) {
      z += Real(X(i, k)) * w[k];
      u += Real(X(i, k)) * v[k];
    }
    const Real s = LogisticMath<Real>::sigmoid(z);
    t[i] = s * (Real(1) - s) * u;
  }
  for (Index k = 0; k < d; ++k) {
    for (Index i = 0; i < n; ++i) h[k] += Real(X(i, k)) * t[i];
    h[k] = h[k] / Real(n) + lambda[k] * v[k];
  }
  return h;
}

// w_0 .. w_r for the regularizers lambda (given as values of Real, so that an autodiff type can
// carry their derivatives).
template <class Real>
std::vector<Vec<Real>> logistic_trajectory(const LogisticProblem<double>& p, const Vec<Real>& lambda) {
  const auto& in = p.in();
  const Index d = p.dim();
  Vec<Real> w(static_cast<std::size_t>(d));
  for (Index k = 0; k < d; ++k) w[k] = Real(in.w0[k]);
  std::vector<Vec<Real>> traj{w};
  for (Index j = 0; j < p.steps(); ++j) {
    const Vec<Real> g = cross_entropy_gradient<Real>(in.X, in.y, w);
    for (Index k = 0; k < d; ++k) w[k] = w[k] - Real(in.alpha) * (g[k] + lambda[k] * w[k]);
    traj.push_back(w);
  }
  return traj;
}

template <class Real>
Vec<Real> logistic_lambda(const LogisticProblem<double>& p) {
  Vec<Real> lambda;
  for (Index k = 0; k < p.dim(); ++k) lambda.push_back(LogisticMath<Real>::exp(Real(p.in().theta[k])));
  return lambda;
}

// [BILEVEL-LOGISTIC-DEF] M(theta) = L_out(w_r) as a function of theta given as values of Real.
template <class Real>
Real logistic_outer_loss(const LogisticProblem<double>& p, const Vec<Real>& theta) {
  const auto& in = p.in();
  Vec<Real> lambda;
  for (const Real& t : theta) lambda.push_back(LogisticMath<Real>::exp(t));
  const Vec<Real> w = logistic_trajectory<Real>(p, lambda).back();
  Real m(0);
  for (Index i = 0; i < p.val_samples(); ++i) {
    Real z(0);
    for (Index k = 0; k < p.dim(); ++k) z += Real(in.X_val(i, k)) * w[k];
    m += LogisticMath<Real>::softplus(z) - Real(in.y_val[i]) * z;
  }
  return m / Real(p.val_samples());
}

// [BILEVEL-LOGISTIC-DEF] dM/dtheta by reverse mode over the stored trajectory: a = grad L_out(w_r),
// mu = 0; for j = r-1 .. 0: mu = mu - alpha lambda o w_j o a, a = a - alpha H(w_j) a.
template <class Real>
Tensor<Real> logistic_hypergradient(const LogisticProblem<double>& p) {
  const auto& in = p.in();
  const Index d = p.dim();
  const Vec<Real> lambda = logistic_lambda<Real>(p);
  const std::vector<Vec<Real>> w = logistic_trajectory<Real>(p, lambda);
  Vec<Real> a = cross_entropy_gradient<Real>(in.X_val, in.y_val, w.back()), mu(static_cast<std::size_t>(d), Real(0));
  for (Index j = p.steps() - 1; j >= 0; --j) {
    const Vec<Real>& wj = w[static_cast<std::size_t>(j)];
    const Vec<Real> h = logistic_hessian_product<Real>(in.X, lambda, wj, a);
    for (Index k = 0; k < d; ++k) {
      mu[k] -= Real(in.alpha) * lambda[k] * wj[k] * a[k];
      a[k] = a[k] - Real(in.alpha) * h[k];
    }
  }
  return Tensor<Real>(Shape{d}, mu);
}

// [BILEVEL-LOGISTIC-FOM] The first-order shortcut for a step that depends on theta: every
// dU_j/dw = I - alpha H(w_j) replaced by I, the direct terms dU_j/dtheta kept:
// F = sum_j (dU_j/dtheta)^T grad L_out(w_r) = -alpha lambda o (sum_j w_j) o grad L_out(w_r).
template <class Real>
Tensor<Real> logistic_fom(const LogisticProblem<double>& p) {
  const auto& in = p.in();
  const Index d = p.dim();
  const Vec<Real> lambda = logistic_lambda<Real>(p);
  const std::vector<Vec<Real>> w = logistic_trajectory<Real>(p, lambda);
  const Vec<Real> g = cross_entropy_gradient<Real>(in.X_val, in.y_val, w.back());
  Tensor<Real> F(Shape{d}, Real(0));
  for (Index k = 0; k < d; ++k) {
    Real s(0);
    for (Index j = 0; j < p.steps(); ++j) s += w[static_cast<std::size_t>(j)][k];
    F[k] = -Real(in.alpha) * lambda[k] * s * g[k];
  }
  return F;
}

// [BILEVEL-LOGISTIC-UFOM] g = F + (xi / q) (E - F).
template <class Real>
Tensor<Real> logistic_ufom(const LogisticUfomProblem<double>& u) {
  Tensor<Real> F = logistic_fom<Real>(u.problem());
  if (u.xi() == 0) return F;
  const Tensor<Real> E = logistic_hypergradient<Real>(u.problem());
  const Real w = Real(u.xi()) / Real(u.q());
  for (Index i = 0; i < F.count(); ++i) F[i] = F[i] + w * (E[i] - F[i]);
  return F;
}
// embed-end bilevel_logistic_reference

// [BILEVEL-MAML-DEF] MAML sinusoid regression, the MLP 1-h-h-1 with ReLU. relu'(0) = 0
// ([BILEVEL-MAML-RELU]: PyTorch's and JAX's convention); `positive` is the customization point the
// autodiff test specializes (an autodiff number compares by its value).
template <class Real>
struct MamlMath {
  static bool positive(const Real& z) { return z > 0; }
};

// The offsets of W1 (h, 1), b1 (h), W2 (h, h), b2 (h), W3 (1, h), b3 in the flat parameters.
struct MlpLayout {
  Index h, w1, b1, w2, b2, w3, b3;
  explicit MlpLayout(Index hidden)
      : h(hidden), w1(0), b1(hidden), w2(2 * hidden), b2(2 * hidden + hidden * hidden),
        w3(3 * hidden + hidden * hidden), b3(4 * hidden + hidden * hidden) {}
};

// embed-begin bilevel_maml_reference
// The MLP's forward pass at x: a1 = W1 x + b1, z1 = relu(a1), a2 = W2 z1 + b2, z2 = relu(a2),
// out = W3 z2 + b3; the masks m = [a > 0].
template <class Real>
struct MlpPass {
  Vec<Real> a1, z1, a2, z2;
  std::vector<bool> m1, m2;
  Real out;
};
template <class Real>
MlpPass<Real> mlp_forward(const MlpLayout& L, const Vec<Real>& phi, double x) {
  MlpPass<Real> f;
  const Index h = L.h;
  for (Index o = 0; o < h; ++o) {
    f.a1.push_back(phi[L.w1 + o] * Real(x) + phi[L.b1 + o]);
    f.m1.push_back(MamlMath<Real>::positive(f.a1.back()));
    f.z1.push_back(f.m1.back() ? f.a1.back() : Real(0));
  }
  for (Index o = 0; o < h; ++o) {
    Real a = phi[L.b2 + o];
    for (Index i = 0; i < h; ++i) a += phi[L.w2 + o * h + i] * f.z1[i];
    f.a2.push_back(a);
    f.m2.push_back(MamlMath<Real>::positive(a));
    f.z2.push_back(f.m2.back() ? a : Real(0));
  }
  f.out = phi[L.b3];
  for (Index i = 0; i < h; ++i) f.out += phi[L.w3 + i] * f.z2[i];
  return f;
}

// The mean squared error (1/K) sum_i (f(x_i) - y_i)^2 over the points.
template <class Real>
Real mlp_loss(const MlpLayout& L, const Vec<Real>& phi, const Tensor<double>& xs, const Tensor<double>& ys) {
  Real s(0);
  for (Index i = 0; i < xs.count(); ++i) {
    const Real d = mlp_forward<Real>(L, phi, xs[i]).out - Real(ys[i]);
    s += d * d;
  }
  return s / Real(xs.count());
}

// Its gradient (backpropagation) and, when v is given, the Hessian-vector product H v (the
// directional derivative of the gradient along v, relu'' = 0): returns {grad, H v}.
template <class Real>
std::pair<Vec<Real>, Vec<Real>> mlp_gradient_hvp(const MlpLayout& L, const Vec<Real>& phi, const Tensor<double>& xs,
                                                 const Tensor<double>& ys, const Vec<Real>* v) {
  const Index h = L.h, P = static_cast<Index>(phi.size());
  Vec<Real> g(static_cast<std::size_t>(P), Real(0)), hv(static_cast<std::size_t>(v ? P : 0), Real(0));
  const Real scale = Real(2) / Real(xs.count());
  for (Index n = 0; n < xs.count(); ++n) {
    const double x = xs[n];
    const MlpPass<Real> f = mlp_forward<Real>(L, phi, x);
    const Real e = scale * (f.out - Real(ys[n]));
    Vec<Real> da2(static_cast<std::size_t>(h)), da1(static_cast<std::size_t>(h), Real(0));
    g[L.b3] += e;
    for (Index i = 0; i < h; ++i) {
      g[L.w3 + i] += e * f.z2[i];
      da2[i] = f.m2[i] ? phi[L.w3 + i] * e : Real(0);
    }
    for (Index o = 0; o < h; ++o) {
      g[L.b2 + o] += da2[o];
      for (Index i = 0; i < h; ++i) {
        g[L.w2 + o * h + i] += da2[o] * f.z1[i];
        da1[i] += phi[L.w2 + o * h + i] * da2[o];
      }
    }
    for (Index i = 0; i < h; ++i) {
      if (!f.m1[i]) da1[i] = Real(0);
      g[L.w1 + i] += da1[i] * Real(x);
      g[L.b1 + i] += da1[i];
    }
    if (!v) continue;
    const Vec<Real>& V = *v;
    // Tangents of the forward pass along v.
    Vec<Real> rz1(static_cast<std::size_t>(h)), rz2(static_cast<std::size_t>(h));
    for (Index o = 0; o < h; ++o) rz1[o] = f.m1[o] ? V[L.w1 + o] * Real(x) + V[L.b1 + o] : Real(0);
    for (Index o = 0; o < h; ++o) {
      Real ra = V[L.b2 + o];
      for (Index i = 0; i < h; ++i) ra += V[L.w2 + o * h + i] * f.z1[i] + phi[L.w2 + o * h + i] * rz1[i];
      rz2[o] = f.m2[o] ? ra : Real(0);
    }
    Real rout = V[L.b3];
    for (Index i = 0; i < h; ++i) rout += V[L.w3 + i] * f.z2[i] + phi[L.w3 + i] * rz2[i];
    const Real re = scale * rout;
    // Tangents of the backward pass.
    Vec<Real> rda2(static_cast<std::size_t>(h)), rda1(static_cast<std::size_t>(h), Real(0));
    hv[L.b3] += re;
    for (Index i = 0; i < h; ++i) {
      hv[L.w3 + i] += re * f.z2[i] + e * rz2[i];
      rda2[i] = f.m2[i] ? V[L.w3 + i] * e + phi[L.w3 + i] * re : Real(0);
    }
    for (Index o = 0; o < h; ++o) {
      hv[L.b2 + o] += rda2[o];
      for (Index i = 0; i < h; ++i) {
        hv[L.w2 + o * h + i] += rda2[o] * f.z1[i] + da2[o] * rz1[i];
        rda1[i] += V[L.w2 + o * h + i] * da2[o] + phi[L.w2 + o * h + i] * rda2[o];
      }
    }
    for (Index i = 0; i < h; ++i) {
      if (!f.m1[i]) rda1[i] = Real(0);
      hv[L.w1 + i] += rda1[i] * Real(x);
      hv[L.b1 + i] += rda1[i];
    }
  }
  return {g, hv};
}

// phi_0 = theta (given as values of Real), phi_{j+1} = phi_j - alpha grad L_support(phi_j).
template <class Real>
std::vector<Vec<Real>> maml_trajectory(const MamlProblem<double>& p, const Vec<Real>& theta) {
  const MlpLayout L(p.hidden());
  std::vector<Vec<Real>> phi{theta};
  for (Index j = 0; j < p.steps(); ++j) {
    const Vec<Real> g = mlp_gradient_hvp<Real>(L, phi.back(), p.in().x_support, p.in().y_support, nullptr).first;
    Vec<Real> next = phi.back();
    for (std::size_t k = 0; k < next.size(); ++k) next[k] = next[k] - Real(p.in().alpha) * g[k];
    phi.push_back(std::move(next));
  }
  return phi;
}
template <class Real>
Vec<Real> maml_theta(const MamlProblem<double>& p) {
  Vec<Real> t;
  for (Index k = 0; k < p.dim(); ++k) t.push_back(Real(p.in().theta[k]));
  return t;
}

// M(theta) = L_query(phi_r).
template <class Real>
Real maml_outer_loss(const MamlProblem<double>& p, const Vec<Real>& theta) {
  return mlp_loss<Real>(MlpLayout(p.hidden()), maml_trajectory<Real>(p, theta).back(), p.in().x_query, p.in().y_query);
}

// [BILEVEL-MAML-DEF] E by reverse mode over the stored trajectory: lambda = grad L_query(phi_r);
// for j = r-1 .. 0: lambda = lambda - alpha H_support(phi_j) lambda.
template <class Real>
Tensor<Real> maml_hypergradient(const MamlProblem<double>& p) {
  const MlpLayout L(p.hidden());
  const auto& in = p.in();
  const std::vector<Vec<Real>> phi = maml_trajectory<Real>(p, maml_theta<Real>(p));
  Vec<Real> lambda = mlp_gradient_hvp<Real>(L, phi.back(), in.x_query, in.y_query, nullptr).first;
  for (Index j = p.steps() - 1; j >= 0; --j) {
    const Vec<Real> hv =
        mlp_gradient_hvp<Real>(L, phi[static_cast<std::size_t>(j)], in.x_support, in.y_support, &lambda).second;
    for (std::size_t k = 0; k < lambda.size(); ++k) lambda[k] = lambda[k] - Real(in.alpha) * hv[k];
  }
  return Tensor<Real>(Shape{p.dim()}, lambda);
}

// [BILEVEL-MAML-FOM] F = grad L_query(phi_r).
template <class Real>
Tensor<Real> maml_fom(const MamlProblem<double>& p) {
  const std::vector<Vec<Real>> phi = maml_trajectory<Real>(p, maml_theta<Real>(p));
  return Tensor<Real>(Shape{p.dim()}, mlp_gradient_hvp<Real>(MlpLayout(p.hidden()), phi.back(), p.in().x_query,
                                                              p.in().y_query, nullptr)
                                          .first);
}
// embed-end bilevel_maml_reference

// [BILEVEL-HVP-DEF] H v for each class.
template <class Real>
Tensor<Real> hvp(const HvpProblem<QuadraticProblem<double>>& h) {
  Vec<Real> v(static_cast<std::size_t>(h.v().count()));
  for (Index k = 0; k < h.v().count(); ++k) v[k] = Real(h.v()[k]);
  return Tensor<Real>(Shape{h.problem().dim()}, quadratic_hvp<Real>(h.problem(), v, v));
}
template <class Real>
Tensor<Real> hvp(const HvpProblem<RidgeProblem<double>>& h) {
  using std::exp;
  const auto& in = h.problem().in();
  Vec<Real> v(static_cast<std::size_t>(h.v().count()));
  for (Index k = 0; k < h.v().count(); ++k) v[k] = Real(h.v()[k]);
  Vec<Real> g = least_squares_gradient<Real>(in.X, in.y, v, false);
  for (Index k = 0; k < h.problem().dim(); ++k) g[k] += exp(Real(in.theta[k])) * v[k];
  return Tensor<Real>(Shape{h.problem().dim()}, g);
}

// [BILEVEL-HVP-DEF] The logistic class's H(w) v at the point w (the problem's w0).
template <class Real>
Tensor<Real> hvp(const HvpProblem<LogisticProblem<double>>& h) {
  const auto& in = h.problem().in();
  Vec<Real> v, w;
  for (Index k = 0; k < h.v().count(); ++k) {
    v.push_back(Real(h.v()[k]));
    w.push_back(Real(in.w0[k]));
  }
  return Tensor<Real>(Shape{h.problem().dim()},
                      logistic_hessian_product<Real>(in.X, logistic_lambda<Real>(h.problem()), w, v));
}

// [BILEVEL-OPTIMAL-Q] The time-variance tradeoff of UFOM (brief section 3; the paper's own formula
// is unverified): with C_det the cost of the first-order branch, C_rnd that of the exact one,
// V2 a bound on |E|^2 and D2 on |E - F|^2, the second moment is S(q) = V2 + (1/q - 1) D2 and the
// cost model T_p(q) = (C_det + q C_rnd) S(q)^p. These are the closed forms the authors' code uses
// (p = 1/2: toy.py with C_det = r + 1, C_rnd = r; p = 2: reptile.py) and the p = 1 optimum.
inline double ufom_cost(double q, double p, double c_det, double c_rnd, double d2, double v2) {
  return (c_det + q * c_rnd) * std::pow(v2 + (1 / q - 1) * d2, p);
}
// The positive root of a q^2 + b q + c = 0 (a != 0, c < 0 < a: one positive root), clipped to 1.
// c = 0 (D2 = 0: no first-order bias) has the root 0, the limit of the positive root as D2 -> 0;
// the formula below would divide 0 by 0 there (with b = -0 read as non-negative) and give 1.
inline double positive_root(double a, double b, double c) {
  if (c == 0) return 0;
  const double disc = std::sqrt(b * b - 4 * a * c);
  // The root of larger magnitude without cancellation, then the other from the product c / a.
  const double big = b >= 0 ? (-b - disc) / (2 * a) : (-b + disc) / (2 * a);
  const double other = c / (a * big);
  return std::min(1.0, big > 0 ? big : other);
}
// p = 1/2 (toy.py, C_det = r + 1, C_rnd = r): q = 1 when D2 >= 2r V2 / (2r + 1), else the root in
// (0, 1) of r (V2 - D2) q^2 + (r/2) D2 q - ((r + 1)/2) D2 = 0.
inline double optimal_q_half(double r, double d2, double v2) {
  if (d2 >= 2 * r * v2 / (2 * r + 1)) return 1;
  return positive_root(r * (v2 - d2), r / 2 * d2, -(r + 1) / 2 * d2);
}
// p = 1: q = sqrt(C_det D2 / (C_rnd (V2 - D2))), at most 1 (1 when D2 >= V2).
inline double optimal_q_one(double c_det, double c_rnd, double d2, double v2) {
  if (d2 >= v2) return 1;
  return std::min(1.0, std::sqrt(c_det * d2 / (c_rnd * (v2 - d2))));
}
// p = 2 (reptile.py): q = 1 when D2 >= C_rnd V2 / (2 (C_det + C_rnd)), else the root in (0, 1) of
// (V2 - D2) C_rnd q^2 - D2 C_rnd q - 2 D2 C_det = 0.
inline double optimal_q_two(double c_det, double c_rnd, double d2, double v2) {
  if (d2 >= 0.5 * c_rnd * v2 / (c_det + c_rnd)) return 1;
  return positive_root((v2 - d2) * c_rnd, -d2 * c_rnd, -2 * d2 * c_det);
}

// Instantiated in reference/src/bilevel_reference.cpp only (MPFR instantiations in one unit).
#define TOUCHSTONE_BILEVEL_REFERENCE(X) \
  X mp_real outer_loss<mp_real>(const QuadraticProblem<double>&); \
  X double outer_loss<double>(const QuadraticProblem<double>&); \
  X Tensor<mp_real> fom<mp_real>(const QuadraticProblem<double>&); \
  X Tensor<double> fom<double>(const QuadraticProblem<double>&); \
  X Tensor<mp_real> exact_hypergradient<mp_real>(const QuadraticProblem<double>&); \
  X Tensor<double> exact_hypergradient<double>(const QuadraticProblem<double>&); \
  X Tensor<mp_real> exact_hypergradient_recompute<mp_real>(const QuadraticProblem<double>&); \
  X Tensor<mp_real> exact_hypergradient_forward<mp_real>(const QuadraticProblem<double>&); \
  X Tensor<mp_real> ufom<mp_real>(const UfomProblem<double>&); \
  X Tensor<double> ufom<double>(const UfomProblem<double>&); \
  X AdaptiveUfomResult<mp_real> ufom_adaptive<mp_real>(const AdaptiveUfomProblem<double>&); \
  X AdaptiveUfomResult<double> ufom_adaptive<double>(const AdaptiveUfomProblem<double>&); \
  X Tensor<mp_real> ridge_hypergradient<mp_real>(const RidgeProblem<double>&); \
  X Tensor<double> ridge_hypergradient<double>(const RidgeProblem<double>&); \
  X mp_real ridge_outer_loss<mp_real>(const RidgeProblem<double>&); \
  X Tensor<mp_real> hvp<mp_real>(const HvpProblem<QuadraticProblem<double>>&); \
  X Tensor<mp_real> hvp<mp_real>(const HvpProblem<RidgeProblem<double>>&); \
  X ClosedForm<mp_real> closed_form<mp_real>(const QuadraticProblem<double>&); \
  X ClosedForm<double> closed_form<double>(const QuadraticProblem<double>&); \
  X Tensor<mp_real> logistic_hypergradient<mp_real>(const LogisticProblem<double>&); \
  X Tensor<double> logistic_hypergradient<double>(const LogisticProblem<double>&); \
  X Tensor<mp_real> logistic_fom<mp_real>(const LogisticProblem<double>&); \
  X Tensor<double> logistic_fom<double>(const LogisticProblem<double>&); \
  X Tensor<mp_real> logistic_ufom<mp_real>(const LogisticUfomProblem<double>&); \
  X Tensor<mp_real> hvp<mp_real>(const HvpProblem<LogisticProblem<double>>&); \
  X Tensor<mp_real> maml_hypergradient<mp_real>(const MamlProblem<double>&); \
  X Tensor<double> maml_hypergradient<double>(const MamlProblem<double>&); \
  X Tensor<mp_real> maml_fom<mp_real>(const MamlProblem<double>&); \
  X Tensor<double> maml_fom<double>(const MamlProblem<double>&);
TOUCHSTONE_BILEVEL_REFERENCE(extern template)

}  // namespace touchstone::bilevel::reference
