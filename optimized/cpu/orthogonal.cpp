// The orthogonal family on the CPU: the sequences of order/orthogonal_order.hpp on native floats.
#include "orthogonal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/native_arithmetic.hpp"
#include "touchstone/order/orthogonal_order.hpp"

namespace touchstone::orthogonal::cpu {
namespace {

// The order's arithmetic policy on T: every operation one IEEE rounding (-ffp-contract=off);
// sqrt is IEEE's correctly rounded square root.
template <class T>
struct NativeArithmetic : cpu_common::NativeArithmetic<T> {
  static constexpr bool kRefinesSolves = false;
  static T sqrt(T a) { return std::sqrt(a); }
  static T twice(T a) { return a + a; }
  static T unit(T a) { return a; }
  static T method_error(T a, double) { return a; }  // the bound's business only
  // [ORTH-MATCH-CPU] glibc's binary64 sin and cos (assumed within 1 ulp, [CORE-ASSUME-LIBM-F64]), rounded
  // to float32 for T = float (kSinCosF32Ulps).
  static T sin(T a) { return static_cast<T>(std::sin(static_cast<double>(a))); }
  static T cos(T a) { return static_cast<T>(std::cos(static_cast<double>(a))); }
  // [CORE-PRODUCT-SUMS] shared_order::product_sums with a row's sums side by side (the loop over the
  // columns innermost and contiguous, which the compiler vectorizes): each sum still starts at 0,
  // adds its leading term, then its products in l order, one rounding each, so every value is the
  // scalar loop's. y is read once, before any output (no order writes into its own y).
  template <class First, class Lead, class X, class Y, class Out>
  static void product_sums(Index rows, Index cols, Index inner, const First& first, const Lead& lead, const X& x,
                           const Y& y, Out&& out) {
    std::vector<T> yv(static_cast<std::size_t>(inner * cols)), acc(static_cast<std::size_t>(cols));
    for (Index l = 0; l < inner; ++l)
      for (Index j = 0; j < cols; ++j) yv[static_cast<std::size_t>(l * cols + j)] = y(l, j);
    for (Index i = 0; i < rows; ++i) {
      const touchstone::shared_order::ColumnRange c = touchstone::shared_order::row_columns(first, i, cols);
      const Index j0 = c.begin, j1 = c.end;
      if (j0 >= j1) continue;
      T* a = acc.data();
      for (Index j = j0; j < j1; ++j) a[j] = T(0);
      if constexpr (!std::is_same_v<Lead, touchstone::shared_order::NoLead>)
        for (Index j = j0; j < j1; ++j) a[j] = a[j] + lead(i, j);
      for (Index l = 0; l < inner; ++l) {
        const T xil = x(i, l);
        const T* yl = yv.data() + l * cols;
        for (Index j = j0; j < j1; ++j) a[j] = a[j] + xil * yl[j];
      }
      for (Index j = j0; j < j1; ++j) out(i, j, a[j]);
    }
  }
};

template <class T>
auto reader(const Tensor<T>& t) {
  return [&t](Index i, Index k) { return static_cast<double>(t(i, k)); };
}

template <class T>
Tensor<T> householder_product_t(const ReflectorProblem<T>& p) {
  Tensor<T> q(Shape{p.N(), p.N()});
  NativeArithmetic<T> ar;
  order::householder_product(ar, reader(p.v()), p.L(), p.N(), [&](Index r, Index c, T x) { q(r, c) = x; });
  return q;
}

template <class T>
Tensor<T> cwy_columns_t(const ReflectorProblem<T>& p, Index C) {
  Tensor<T> q(Shape{p.N(), C});
  NativeArithmetic<T> ar;
  order::cwy_columns(ar, reader(p.v()), p.L(), p.N(), C, [&](Index r, Index c, T x) { q(r, c) = x; });
  return q;
}

template <class T>
Tensor<T> cwy_apply_t(const ApplyProblem<T>& p) {
  Tensor<T> y(Shape{p.B(), p.N()});
  NativeArithmetic<T> ar;
  order::cwy_apply(ar, reader(p.v()), reader(p.h()), p.B(), p.L(), p.N(), p.transpose(),
                   [&](Index b, Index k, T x) { y(b, k) = x; });
  return y;
}

template <class T>
Tensor<T> cwy_vjp_t(const CwyBackwardProblem<T>& p) {
  Tensor<T> dv(Shape{p.L(), p.N()});
  NativeArithmetic<T> ar;
  order::cwy_vjp(ar, reader(p.v()), reader(p.g()), p.L(), p.N(), p.columns(), [&](Index i, Index k, T x) { dv(i, k) = x; });
  return dv;
}

template <class T>
Tensor<T> householder_product_lapack_t(const LapackProblem<T>& p) {
  Tensor<T> q(Shape{p.m(), p.n()});
  NativeArithmetic<T> ar;
  order::householder_product_lapack(
      ar, reader(p.a()), [&](Index i) { return static_cast<double>(p.tau()[i]); }, p.m(), p.n(), p.k(),
      [&](Index r, Index c, T x) { q(r, c) = x; });
  return q;
}

}  // namespace

Tensor<float> householder_product(const ReflectorProblem<float>& p) { return householder_product_t(p); }
Tensor<double> householder_product(const ReflectorProblem<double>& p) { return householder_product_t(p); }
// The order header's CWY run on T element by element; cwy, tcwy and cwy_apply are the blocked
// forms of orthogonal_fast.cpp ([ORTH-CWY-FAST]), bit identical to these.
namespace generic {
Tensor<float> cwy(const ReflectorProblem<float>& p) { return cwy_columns_t(p, p.N()); }
Tensor<double> cwy(const ReflectorProblem<double>& p) { return cwy_columns_t(p, p.N()); }
Tensor<float> tcwy(const StiefelProblem<float>& p) { return cwy_columns_t(p.reflectors(), p.M()); }
Tensor<double> tcwy(const StiefelProblem<double>& p) { return cwy_columns_t(p.reflectors(), p.M()); }
Tensor<float> cwy_apply(const ApplyProblem<float>& p) { return cwy_apply_t(p); }
Tensor<double> cwy_apply(const ApplyProblem<double>& p) { return cwy_apply_t(p); }
}  // namespace generic
template <class T>
Tensor<T> cayley_t(const CayleyProblem<T>& p) {
  Tensor<T> q(Shape{p.n(), p.n()});
  NativeArithmetic<T> ar;
  order::cayley(ar, reader(p.a()), p.n(), p.convention() == CayleyConvention::pytorch,
                [&](Index i, Index c, T x) { q(i, c) = x; });
  return q;
}
Tensor<float> cayley(const CayleyProblem<float>& p) { return cayley_t(p); }
Tensor<double> cayley(const CayleyProblem<double>& p) { return cayley_t(p); }
template <class T>
Tensor<T> cayley_vjp_t(const CayleyBackwardProblem<T>& p) {
  Tensor<T> dx(Shape{p.n(), p.n()});
  NativeArithmetic<T> ar;
  order::cayley_vjp(ar, reader(p.a()), reader(p.g()), p.n(), p.convention() == CayleyConvention::pytorch,
                    [&](Index i, Index j, T x) { dx(i, j) = x; });
  return dx;
}
template <class T>
Tensor<T> matrix_exp_t(const SkewProblem<T>& p) {
  Tensor<T> q(Shape{p.n(), p.n()});
  NativeArithmetic<T> ar;
  order::matrix_exp(ar, reader(p.a()), p.n(), [&](Index i, Index k, T x) { q(i, k) = x; });
  return q;
}
template <class T>
Tensor<T> matrix_exp_vjp_t(const ExpBackwardProblem<T>& p) {
  Tensor<T> dx(Shape{p.n(), p.n()});
  NativeArithmetic<T> ar;
  order::matrix_exp_vjp(ar, reader(p.a()), reader(p.g()), p.n(), [&](Index i, Index k, T x) { dx(i, k) = x; });
  return dx;
}
Tensor<float> matrix_exp(const SkewProblem<float>& p) { return matrix_exp_t(p); }
Tensor<double> matrix_exp(const SkewProblem<double>& p) { return matrix_exp_t(p); }
Tensor<float> matrix_exp_vjp(const ExpBackwardProblem<float>& p) { return matrix_exp_vjp_t(p); }
Tensor<double> matrix_exp_vjp(const ExpBackwardProblem<double>& p) { return matrix_exp_vjp_t(p); }
template <class T>
Tensor<T> qf_t(const QfProblem<T>& p) {
  Tensor<T> q(Shape{p.m(), p.n()});
  NativeArithmetic<T> ar;
  order::qf(ar, reader(p.y()), p.m(), p.n(), [&](Index k, Index j, T x) { q(k, j) = x; });
  return q;
}
Tensor<float> qf(const QfProblem<float>& p) { return qf_t(p); }
Tensor<double> qf(const QfProblem<double>& p) { return qf_t(p); }
Tensor<float> cayley_vjp(const CayleyBackwardProblem<float>& p) { return cayley_vjp_t(p); }
Tensor<double> cayley_vjp(const CayleyBackwardProblem<double>& p) { return cayley_vjp_t(p); }
Tensor<float> householder_product_lapack(const LapackProblem<float>& p) { return householder_product_lapack_t(p); }
Tensor<double> householder_product_lapack(const LapackProblem<double>& p) { return householder_product_lapack_t(p); }
Tensor<float> cwy_vjp(const CwyBackwardProblem<float>& p) { return cwy_vjp_t(p); }
Tensor<double> cwy_vjp(const CwyBackwardProblem<double>& p) { return cwy_vjp_t(p); }

template <class T>
RiemannianGrad<T> riemannian_grad_t(const RiemannianProblem<T>& p) {
  RiemannianGrad<T> r{Tensor<T>(Shape{p.M(), p.M()}), Tensor<T>(Shape{p.N(), p.M()})};
  NativeArithmetic<T> ar;
  order::riemannian_grad(ar, reader(p.x()), reader(p.g()), p.N(), p.M(), [&](Index i, Index k, T x) { r.omega(i, k) = x; },
                         [&](Index i, Index k, T x) { r.grad(i, k) = x; });
  return r;
}
template <class T>
Tensor<T> rgd_step_t(const RgdStepProblem<T>& p) {
  Tensor<T> y(Shape{p.N(), p.M()});
  NativeArithmetic<T> ar;
  order::rgd_step(ar, reader(p.x()), reader(p.g()), static_cast<double>(p.eta()), p.N(), p.M(),
                  p.retraction() == Retraction::exp, [&](Index i, Index k, T x) { y(i, k) = x; });
  return y;
}
RiemannianGrad<float> riemannian_grad(const RiemannianProblem<float>& p) { return riemannian_grad_t(p); }
RiemannianGrad<double> riemannian_grad(const RiemannianProblem<double>& p) { return riemannian_grad_t(p); }
Tensor<float> rgd_step(const RgdStepProblem<float>& p) { return rgd_step_t(p); }
Tensor<double> rgd_step(const RgdStepProblem<double>& p) { return rgd_step_t(p); }

template <class T>
Tensor<T> matching_step_t(const MatchingStepProblem<T>& p) {
  Tensor<T> y(Shape{p.N(), p.M()});
  NativeArithmetic<T> ar;
  order::matching_step(ar, reader(p.x()), reader(p.g()), p.N(), p.M(), static_cast<double>(p.eta()), p.round(),
                       [&](Index i, Index k, T x) { y(i, k) = x; });
  return y;
}
template <class T>
Tensor<T> matching_flow_t(const FlowProblem<T>& p, const FlowObserver<T>& observe) {
  Tensor<T> x(Shape{p.N(), p.M()});
  NativeArithmetic<T> ar;
  const Index N = p.N(), M = p.M();
  Tensor<T> snapshot(Shape{N, M});
  order::matching_flow(
      ar, reader(p.x0()), reader(p.a()), reader(p.y()), N, M, p.K(), static_cast<double>(p.eta()), p.steps(), p.seed(),
      p.reproject(),
      [&](Index t, const std::vector<T>& v) {
        if (!observe) return;
        for (Index i = 0; i < N * M; ++i) snapshot[i] = v[static_cast<std::size_t>(i)];
        observe(t, snapshot);
      },
      [&](Index i, Index k, T v) { x(i, k) = v; });
  return x;
}
Tensor<float> matching_step(const MatchingStepProblem<float>& p) { return matching_step_t(p); }
Tensor<double> matching_step(const MatchingStepProblem<double>& p) { return matching_step_t(p); }
Tensor<float> matching_flow(const FlowProblem<float>& p, const FlowObserver<float>& observe) { return matching_flow_t(p, observe); }
Tensor<double> matching_flow(const FlowProblem<double>& p, const FlowObserver<double>& observe) {
  return matching_flow_t(p, observe);
}

template <class T>
Tensor<T> qf_vjp_t(const QfBackwardProblem<T>& p) {
  Tensor<T> dy(Shape{p.m(), p.n()});
  NativeArithmetic<T> ar;
  order::qf_vjp(ar, reader(p.y()), reader(p.g()), p.m(), p.n(), [&](Index i, Index j, T x) { dy(i, j) = x; });
  return dy;
}
Tensor<float> qf_vjp(const QfBackwardProblem<float>& p) { return qf_vjp_t(p); }
Tensor<double> qf_vjp(const QfBackwardProblem<double>& p) { return qf_vjp_t(p); }

// [ORTH-POLAR-CPU] The polar factor: A scaled by a power of two (exact barring underflow; the polar
// factor of cA is that of A), modified Gram-Schmidt's Q_r and R (order::qf_values), Newton's
// iteration on R, Q = Q_r X. Not an order header: the pivoting and the stopping rule depend on the
// values, and the bound is a certificate of the computed result ([ORTH-POLAR-BOUND]), not a
// tracked run of the order.
template <class T>
std::vector<T> polar_inverse(std::vector<T> x, Index m) {
  // Gauss-Jordan elimination with partial pivoting; a zero pivot gives NaN (R singular in T).
  std::vector<T> y(static_cast<std::size_t>(m * m), T(0));
  for (Index i = 0; i < m; ++i) y[i * m + i] = T(1);
  for (Index k = 0; k < m; ++k) {
    Index piv = k;
    for (Index i = k + 1; i < m; ++i)
      if (std::fabs(x[i * m + k]) > std::fabs(x[piv * m + k])) piv = i;
    if (!(x[piv * m + k] != T(0))) return std::vector<T>(y.size(), std::numeric_limits<T>::quiet_NaN());
    for (Index j = 0; j < m; ++j) std::swap(x[k * m + j], x[piv * m + j]), std::swap(y[k * m + j], y[piv * m + j]);
    const T d = x[k * m + k];
    for (Index j = 0; j < m; ++j) x[k * m + j] /= d, y[k * m + j] /= d;
    for (Index i = 0; i < m; ++i) {
      if (i == k) continue;
      const T l = x[i * m + k];
      for (Index j = 0; j < m; ++j) x[i * m + j] -= l * x[k * m + j], y[i * m + j] -= l * y[k * m + j];
    }
  }
  return y;
}
template <class T>
T polar_frobenius(const std::vector<T>& x) {
  T s(0);
  for (T v : x) s += v * v;
  return std::sqrt(s);
}
template <class T>
Tensor<T> polar_t(const PolarProblem<T>& p) {
  const Index n = p.n(), m = p.m();
  T amax(0);
  for (Index i = 0; i < p.a().count(); ++i) amax = std::max(amax, std::fabs(p.a()[i]));
  int e = 0;
  std::frexp(amax, &e);  // amax in [2^(e-1), 2^e): scaled entries at most 1 in magnitude
  NativeArithmetic<T> ar;
  std::vector<T> a;
  for (Index i = 0; i < n * m; ++i) a.push_back(std::ldexp(p.a()[i], -e));
  std::vector<T> r;
  const std::vector<T> qr = order::qf_values(ar, a, n, m, &r);
  // X <- (zeta X + X^-T / zeta) / 2 with zeta = (|X^-1|_F / |X|_F)^(1/2) while the relative step is
  // above 1e-2, zeta = 1 after; stop two steps after the first relative step at or below sqrt(u)
  // (quadratic convergence takes it to the rounding level), at most 100 steps.
  const T tol = std::sqrt(std::numeric_limits<T>::epsilon() / 2);
  std::vector<T> x = r, next(x.size());
  bool scaled = true;
  int after = -1;
  for (int it = 0; it < 100 && after != 0; ++it) {
    const std::vector<T> y = polar_inverse(x, m);
    const T zeta = scaled ? std::sqrt(polar_frobenius(y) / polar_frobenius(x)) : T(1);
    T step(0);
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < m; ++j) {
        const T v = (zeta * x[i * m + j] + y[j * m + i] / zeta) / T(2);
        step += (v - x[i * m + j]) * (v - x[i * m + j]);
        next[i * m + j] = v;
      }
    const T rel = std::sqrt(step) / polar_frobenius(next);
    std::swap(x, next);
    if (!(rel == rel)) break;  // NaN: R singular in T; the NaN output says so
    if (rel <= T(0.01)) scaled = false;
    if (after > 0) --after;
    else if (after < 0 && rel <= tol) after = 2;
  }
  Tensor<T> q(Shape{n, m});
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j) {
      T t(0);
      for (Index k = 0; k < m; ++k) t += qr[i * m + k] * x[k * m + j];
      q(i, j) = t;
    }
  return q;
}
Tensor<float> polar(const PolarProblem<float>& p) { return polar_t(p); }
Tensor<double> polar(const PolarProblem<double>& p) { return polar_t(p); }

}  // namespace touchstone::orthogonal::cpu
