// The bilevel family's oracles (spec/bilevel.md), written as the spec defines each quantity: the
// inner loop unrolled step by step, the exact hypergradient by reverse mode over the stored
// trajectory, FOM, UFOM with the coin given, the quadratic closed form (a second, independent
// oracle the family tests compare against), the ridge class, Hessian-vector products and the
// optimal-q closed forms. Templated on the scalar; instantiated once
// (reference/src/bilevel_reference.cpp) for mp_real (the oracle) and double (tests).
#pragma once

#include <algorithm>
#include <cmath>
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

// [BILEVEL-OPTIMAL-Q] The time-variance tradeoff of UFOM (brief section 3; the paper's own formula
// is unverified): with C_det the cost of the first-order branch, C_rnd that of the exact one,
// V2 a bound on |E|^2 and D2 on |E - F|^2, the second moment is S(q) = V2 + (1/q - 1) D2 and the
// cost model T_p(q) = (C_det + q C_rnd) S(q)^p. These are the closed forms the authors' code uses
// (p = 1/2: toy.py with C_det = r + 1, C_rnd = r; p = 2: reptile.py) and the p = 1 optimum.
inline double ufom_cost(double q, double p, double c_det, double c_rnd, double d2, double v2) {
  return (c_det + q * c_rnd) * std::pow(v2 + (1 / q - 1) * d2, p);
}
// The positive root of a q^2 + b q + c = 0 (a != 0, c < 0 < a: one positive root), clipped to 1.
inline double positive_root(double a, double b, double c) {
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
  X Tensor<mp_real> ridge_hypergradient<mp_real>(const RidgeProblem<double>&); \
  X Tensor<double> ridge_hypergradient<double>(const RidgeProblem<double>&); \
  X mp_real ridge_outer_loss<mp_real>(const RidgeProblem<double>&); \
  X Tensor<mp_real> hvp<mp_real>(const HvpProblem<QuadraticProblem<double>>&); \
  X Tensor<mp_real> hvp<mp_real>(const HvpProblem<RidgeProblem<double>>&); \
  X ClosedForm<mp_real> closed_form<mp_real>(const QuadraticProblem<double>&); \
  X ClosedForm<double> closed_form<double>(const QuadraticProblem<double>&);
TOUCHSTONE_BILEVEL_REFERENCE(extern template)

}  // namespace touchstone::bilevel::reference
