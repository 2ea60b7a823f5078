// [ORTH-POLAR-BOUND] The certified a-posteriori bound of a computed polar factor (spec/orthogonal.md):
// the quantities delta, kappa, lambda, nu and alpha of the theorem enclosed in interval arithmetic
// (MPFI at 128 bits: a product of two doubles is exact there, and every other operation is rounded
// outward), then the theorem's formula evaluated on their bounds (it increases with delta, kappa,
// nu and alpha and decreases with lambda), and its upper end rounded up to a double.
#include "touchstone/bounds/orthogonal_polar_bound.hpp"

#include <Eigen/Dense>
#include <mpfi.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace touchstone::orthogonal {
namespace {

constexpr mpfr_prec_t kBits = 128;
// Below this relative size the oracle's own verified accuracy decides, not the certificate (see
// polar_certificate_bound).
constexpr double kOracleFloor = 0x1p-80;

// An MPFI interval with value semantics.
class Interval {
 public:
  Interval() {
    mpfi_init2(x_, kBits);
    mpfi_set_ui(x_, 0);
  }
  explicit Interval(double d) : Interval() { mpfi_set_d(x_, d); }
  Interval(const Interval& o) : Interval() { mpfi_set(x_, o.x_); }
  Interval& operator=(const Interval& o) {
    mpfi_set(x_, o.x_);
    return *this;
  }
  ~Interval() { mpfi_clear(x_); }
  mpfi_ptr get() { return x_; }
  mpfi_srcptr get() const { return x_; }
  double upper() const { return end(mpfi_get_right, MPFR_RNDU); }
  double lower() const { return end(mpfi_get_left, MPFR_RNDD); }
  double mid() const { return end(mpfi_mid, MPFR_RNDN); }

 private:
  // An end point (or the midpoint) of the interval, rounded to a double in the direction given.
  template <class Get>
  double end(Get get, mpfr_rnd_t rnd) const {
    mpfr_t r;
    mpfr_init2(r, kBits);
    get(r, x_);
    const double d = mpfr_get_d(r, rnd);
    mpfr_clear(r);
    return d;
  }
  mpfi_t x_;
};

Interval operator+(const Interval& a, const Interval& b) {
  Interval r;
  mpfi_add(r.get(), a.get(), b.get());
  return r;
}
Interval operator-(const Interval& a, const Interval& b) {
  Interval r;
  mpfi_sub(r.get(), a.get(), b.get());
  return r;
}
Interval operator*(const Interval& a, const Interval& b) {
  Interval r;
  mpfi_mul(r.get(), a.get(), b.get());
  return r;
}
Interval operator/(const Interval& a, const Interval& b) {
  Interval r;
  mpfi_div(r.get(), a.get(), b.get());
  return r;
}
Interval square(const Interval& a) {  // [0, max^2] when a holds 0, unlike a * a
  Interval r;
  mpfi_sqr(r.get(), a.get());
  return r;
}
Interval root(const Interval& a) {
  Interval r;
  mpfi_sqrt(r.get(), a.get());
  return r;
}
Interval half(const Interval& a) {
  Interval r;
  mpfi_div_2ui(r.get(), a.get(), 1);
  return r;
}

// acc += x y for doubles x, y (exact product at 128 bits, outward-rounded sum).
void add_product(Interval& acc, double x, double y, Interval& t) {
  mpfi_set_d(t.get(), x);
  mpfi_mul_d(t.get(), t.get(), y);
  mpfi_add(acc.get(), acc.get(), t.get());
}

// Whether every symmetric matrix with its lower triangle in S (m x m, row-major), minus mu I, is
// positive definite: Cholesky in interval arithmetic, every pivot strictly positive. The exact
// factorization of each such matrix lies inside the intervals computed, so its pivots are positive.
bool shifted_positive_definite(const std::vector<Interval>& S, Index m, double mu) {
  std::vector<Interval> L(static_cast<std::size_t>(m * m));
  const Interval shift(mu);
  for (Index j = 0; j < m; ++j) {
    Interval s = S[j * m + j] - shift;
    for (Index k = 0; k < j; ++k) s = s - square(L[j * m + k]);
    if (!mpfi_is_strictly_pos(s.get())) return false;
    L[j * m + j] = root(s);
    for (Index i = j + 1; i < m; ++i) {
      Interval t = S[i * m + j];
      for (Index k = 0; k < j; ++k) t = t - L[i * m + k] * L[j * m + k];
      L[i * m + j] = t / L[j * m + j];
    }
  }
  return true;
}

// Whether plain double Cholesky of mid - mu I runs with positive pivots (the search only; the
// certificate is shifted_positive_definite's).
bool cholesky_runs(const std::vector<double>& mid, Index m, double mu) {
  std::vector<double> L(mid.size(), 0.0);
  for (Index j = 0; j < m; ++j) {
    double s = mid[j * m + j] - mu;
    for (Index k = 0; k < j; ++k) s -= L[j * m + k] * L[j * m + k];
    if (!(s > 0)) return false;
    L[j * m + j] = std::sqrt(s);
    for (Index i = j + 1; i < m; ++i) {
      double t = mid[i * m + j];
      for (Index k = 0; k < j; ++k) t -= L[i * m + k] * L[j * m + k];
      L[i * m + j] = t / L[j * m + j];
    }
  }
  return true;
}

// A certified lower bound on lambda_min of the symmetric matrices in S, or NaN if none > 0 is
// found: bisection on double Cholesky for the largest shift that factors, then the interval
// Cholesky at that shift reduced by a relative 2^-30, 2^-20, 2^-10, 1/2, 3/4, 15/16.
double lambda_min_lower(const std::vector<Interval>& S, Index m) {
  std::vector<double> mid(S.size());
  double hi = std::numeric_limits<double>::infinity();
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j <= i; ++j) mid[i * m + j] = S[i * m + j].mid();
  for (Index i = 0; i < m; ++i) hi = std::min(hi, mid[i * m + i]);  // lambda_min <= every diagonal entry
  double lo = 0;
  if (!(hi > 0) || !cholesky_runs(mid, m, 0)) return std::nan("");
  for (int it = 0; it < 64; ++it) {
    const double mu = lo + (hi - lo) / 2;
    if (mu <= lo || mu >= hi) break;
    (cholesky_runs(mid, m, mu) ? lo : hi) = mu;
  }
  for (double f : {1 - 0x1p-30, 1 - 0x1p-20, 1 - 0x1p-10, 0.5, 0.25, 0.0625})
    if (lo * f > 0 && shifted_positive_definite(S, m, lo * f)) return lo * f;
  return std::nan("");
}

// Whether every symmetric matrix with its lower triangle in S, minus mu I, has at most one
// eigenvalue below mu... i.e. lambda_2 > mu: LDL^T in interval arithmetic without pivoting, every
// pivot's interval excluding 0 (then the exact factorization exists and, by Sylvester's law of
// inertia, its negative pivots count the eigenvalues below mu), at most one negative.
bool shifted_second_above(const std::vector<Interval>& S, Index m, double mu) {
  std::vector<Interval> L(static_cast<std::size_t>(m * m)), D(static_cast<std::size_t>(m));
  const Interval shift(mu);
  int negative = 0;
  for (Index j = 0; j < m; ++j) {
    Interval d = S[j * m + j] - shift;
    for (Index k = 0; k < j; ++k) d = d - square(L[j * m + k]) * D[k];
    if (mpfi_is_strictly_neg(d.get())) ++negative;
    else if (!mpfi_is_strictly_pos(d.get())) return false;
    D[j] = d;
    for (Index i = j + 1; i < m; ++i) {
      Interval t = S[i * m + j];
      for (Index k = 0; k < j; ++k) t = t - L[i * m + k] * L[j * m + k] * D[k];
      L[i * m + j] = t / d;
    }
  }
  return negative <= 1;
}

// The number of eigenvalues of mid below mu by a double LDL^T (the search only), -1 on a zero pivot.
int count_below(const std::vector<double>& mid, Index m, double mu) {
  std::vector<double> L(mid.size(), 0.0), D(static_cast<std::size_t>(m));
  int negative = 0;
  for (Index j = 0; j < m; ++j) {
    double d = mid[j * m + j] - mu;
    for (Index k = 0; k < j; ++k) d -= L[j * m + k] * L[j * m + k] * D[k];
    if (!(d != 0)) return -1;
    negative += d < 0;
    D[j] = d;
    for (Index i = j + 1; i < m; ++i) {
      double t = mid[i * m + j];
      for (Index k = 0; k < j; ++k) t -= L[i * m + k] * L[j * m + k] * D[k];
      L[i * m + j] = t / d;
    }
  }
  return negative;
}

// A certified lower bound on the second smallest eigenvalue of the matrices in S, at least
// `lambda1` (a lower bound on the smallest): bisection on the double count for the largest shift
// with at most one eigenvalue below it, then the interval check at that shift reduced as
// lambda_min_lower does; `lambda1` where that fails or m < 2.
double lambda_second_lower(const std::vector<Interval>& S, Index m, double lambda1) {
  if (m < 2) return lambda1;
  std::vector<double> mid(S.size());
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j <= i; ++j) mid[i * m + j] = mid[j * m + i] = S[i * m + j].mid();
  double lo = lambda1, hi = 0;
  for (Index i = 0; i < m; ++i) {  // Gershgorin: every eigenvalue is below hi
    double r = mid[i * m + i];
    for (Index j = 0; j < m; ++j) r += j == i ? 0 : std::fabs(mid[i * m + j]);
    hi = std::max(hi, r);
  }
  for (int it = 0; it < 64; ++it) {
    const double mu = lo + (hi - lo) / 2;
    if (mu <= lo || mu >= hi) break;
    const int below = count_below(mid, m, mu);
    (below >= 0 && below <= 1 ? lo : hi) = mu;
  }
  for (double f : {1 - 0x1p-30, 1 - 0x1p-20, 1 - 0x1p-10, 0.5, 0.25, 0.0625})
    if (lo * f > lambda1 && shifted_second_above(S, m, lo * f)) return lo * f;
  return lambda1;
}

// A certificate (forward or VJP) that is +inf, with the reason.
template <class Certificate>
Certificate fail(Certificate c, const std::string& why) {
  c.bound = std::numeric_limits<double>::infinity();
  c.failed = why;
  return c;
}

}  // namespace

PolarCertificate polar_certificate(const Tensor<double>& a, const Tensor<double>& q) {
  if (a.rank() != 2 || !(q.shape() == a.shape()) || a.extent(0) < a.extent(1))
    throw std::invalid_argument("polar_certificate: A and Q must be n x m matrices of one shape, n >= m");
  const Index n = a.extent(0), m = a.extent(1);
  PolarCertificate c;
  for (Index i = 0; i < q.count(); ++i)
    if (!std::isfinite(q[i])) return fail(c, "Q has a non-finite element");
  Interval t, rho2, alpha2, delta2, kappa2, nu2;
  // The first-order orthogonalization Q~ = Q (I - G/2), G = Q^T Q - I: Q~^T Q~ - I = -3G^2/4 + G^3/4,
  // so the theorem below, applied to the exact Q~ (inside these intervals), sees a defect of order
  // |G|^2 instead of |G| (which it would multiply by ||A||_F / lambda); rho = ||Q G / 2||_F.
  std::vector<Interval> G(static_cast<std::size_t>(m * m)), Qt(static_cast<std::size_t>(n * m));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j <= i; ++j) {
      Interval g(i == j ? -1.0 : 0.0);
      for (Index k = 0; k < n; ++k) add_product(g, q(k, i), q(k, j), t);
      G[i * m + j] = G[j * m + i] = half(g);  // G / 2
    }
  for (Index k = 0; k < n; ++k)
    for (Index i = 0; i < m; ++i) {
      Interval r;
      for (Index j = 0; j < m; ++j) r = r + Interval(q(k, j)) * G[j * m + i];
      rho2 = rho2 + square(r);
      Qt[k * m + i] = Interval(q(k, i)) - r;
    }
  // On Q~: M = Q~^T A, G~ = Q~^T Q~ - I (m x m); alpha^2 = sum of a^2.
  std::vector<Interval> M(static_cast<std::size_t>(m * m)), S(static_cast<std::size_t>(m * m));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) {
      Interval& x = M[i * m + j];
      for (Index k = 0; k < n; ++k) x = x + Qt[k * m + i] * Interval(a(k, j));
    }
  for (Index i = 0; i < a.count(); ++i) add_product(alpha2, a[i], a[i], t);
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j <= i; ++j) {
      Interval g(i == j ? -1.0 : 0.0);
      for (Index k = 0; k < n; ++k) g = g + Qt[k * m + i] * Qt[k * m + j];
      const Interval g2 = square(g);
      delta2 = delta2 + (i == j ? g2 : g2 + g2);  // G~ is symmetric
      S[i * m + j] = half(M[i * m + j] + M[j * m + i]);
      if (i != j) {
        const Interval k2 = square(half(M[i * m + j] - M[j * m + i]));
        kappa2 = kappa2 + k2 + k2;
      }
    }
  // nu >= ||(I - W W^T) A||_F = ||(I - W W^T)(A - Q~ Y)||_F <= ||A - Q~ Y||_F for any Y (here M's
  // midpoints); 0 when A is square (W W^T = I).
  if (n > m) {
    std::vector<Interval> y(M.size());
    for (std::size_t i = 0; i < M.size(); ++i) y[i] = Interval(M[i].mid());
    for (Index k = 0; k < n; ++k)
      for (Index j = 0; j < m; ++j) {
        Interval e(a(k, j));
        for (Index i = 0; i < m; ++i) e = e - Qt[k * m + i] * y[i * m + j];
        nu2 = nu2 + square(e);
      }
  }
  c.rho = root(rho2).upper();
  c.delta = root(delta2).upper();
  c.kappa = root(kappa2).upper();
  c.alpha = root(alpha2).upper();
  c.nu = root(nu2).upper();
  c.lambda = lambda_min_lower(S, m);
  if (c.lambda > 0) c.lambda2 = lambda_second_lower(S, m, c.lambda);
  return polar_certificate_bound(c);
}

PolarCertificate polar_certificate_bound(PolarCertificate c) {
  c.failed.clear();
  if (!(c.delta < 1)) return fail(c, "||Q^T Q - I||_F is not below 1");
  if (!(c.lambda > 0)) return fail(c, "sym(Q^T A) is not certified positive definite");
  // [ORTH-POLAR-BOUND]: lambda_W >= lambda - delta alpha, kappa_W <= kappa + delta alpha,
  // d = nu / lambda_W, eps = d^2 alpha, kappa' = kappa + delta alpha + eps, and
  // eta = (lambda_W - eps + max(lambda_W - eps, lambda2 - delta alpha - eps - kappa')) / 2:
  // ||Q - polar(A)||_F <= rho + delta + sqrt((d^2 + sqrt(2) kappa' / eta)^2 + d^2).
  const Interval delta(c.delta), kappa(c.kappa), lambda(c.lambda), nu(c.nu), alpha(c.alpha);
  const Interval lambda2(std::max(c.lambda, c.lambda2));
  const Interval da = delta * alpha;
  const Interval lambda_w = lambda - da;
  if (!mpfi_is_strictly_pos(lambda_w.get())) return fail(c, "lambda_min(sym(Q^T A)) is not above ||Q^T Q - I||_F ||A||_F");
  const Interval d = nu / lambda_w;
  const Interval d2 = square(d);
  const Interval eps = d2 * alpha;
  const Interval den = lambda_w - eps;  // <= sigma_min(M')
  if (!mpfi_is_strictly_pos(den.get())) return fail(c, "the component outside range(Q) is too large (lambda_W <= eps)");
  const Interval kappa_prime = kappa + da + eps;
  // sigma_(m-1)(M') >= max(sigma_m(M'), lambda_2(sym M') - ||skew M'||_2): lower ends only.
  const double second = std::max(den.lower(), (lambda2 - da - eps - kappa_prime).lower());
  const Interval eta = half(Interval(den.lower()) + Interval(second));
  const Interval sqrt2 = root(Interval(2.0));
  const Interval inside = d2 + sqrt2 * kappa_prime / eta;
  const Interval total = Interval(c.rho) + delta + root(square(inside) + d2);
  // Floored at 2^-80 (Q's elements are at most 1 in modulus): the verdict compares with the oracle,
  // which is verified only to 2^-(b/2) of the output's largest element (2^-96 at 192 bits,
  // [CORE-ORACLE-VERIFIED]), so an exactly computed factor (A a multiple of a unit vector, where
  // everything above is 0) must not fail on the oracle's last bits; a larger upper bound is still one.
  c.bound = std::max(total.upper(), kOracleFloor);
  return c;
}

// ---- [ORTH-POLAR-VJP-BOUND] ----

namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A dense interval matrix, row-major.
struct IMat {
  Index rows = 0, cols = 0;
  std::vector<Interval> v;
  IMat(Index r, Index c) : rows(r), cols(c), v(static_cast<std::size_t>(r * c)) {}
  Interval& operator()(Index i, Index j) { return v[static_cast<std::size_t>(i * cols + j)]; }
  const Interval& operator()(Index i, Index j) const { return v[static_cast<std::size_t>(i * cols + j)]; }
  Mat mid() const {
    Mat m(rows, cols);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) m(i, j) = (*this)(i, j).mid();
    return m;
  }
  double frobenius_upper() const {
    Interval s;
    for (const Interval& x : v) s = s + square(x);
    return root(s).upper();
  }
};

// X^T Y for doubles X (k x p) and Y (k x q): each product exact, the sums rounded outward.
IMat transpose_times(const Tensor<double>& x, const Tensor<double>& y) {
  const Index k = x.extent(0), p = x.extent(1), q = y.extent(1);
  IMat r(p, q);
  Interval t;
  for (Index i = 0; i < p; ++i)
    for (Index j = 0; j < q; ++j)
      for (Index l = 0; l < k; ++l) add_product(r(i, j), x(l, i), y(l, j), t);
  return r;
}

// X Y for interval or double operands, each read through an element accessor.
template <class X, class Y>
IMat times(Index rows, Index inner, Index cols, X x, Y y) {
  IMat r(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j)
      for (Index l = 0; l < inner; ++l) r(i, j) = r(i, j) + x(i, l) * y(l, j);
  return r;
}

// An upper bound on the Frobenius norm of `count` doubles (a Tensor's or an Eigen matrix's).
double frobenius(const double* x, Index count) {
  Interval s, u;
  for (Index i = 0; i < count; ++i) add_product(s, x[i], x[i], u);
  return root(s).upper();
}
double frobenius(const Tensor<double>& t) { return frobenius(t.data(), t.count()); }
double frobenius(const Mat& m) { return frobenius(m.data(), m.size()); }

// An upper bound on ||X||_2 for a double matrix X (k x p): sqrt(mu) for a mu with mu I - X^T X
// certified positive definite (interval Cholesky of its negation shifted by -mu), mu from a double
// eigensolver enlarged by 2^-20 then 2^-10; ||X||_F where that fails or is smaller.
double norm2_upper(const Tensor<double>& x) {
  const double f = frobenius(x);
  const Index p = x.extent(1);
  const IMat gram = transpose_times(x, x);
  std::vector<Interval> neg(static_cast<std::size_t>(p * p));
  for (std::size_t i = 0; i < neg.size(); ++i) mpfi_neg(neg[i].get(), gram.v[i].get());
  const Mat mid = gram.mid();
  const double top = Eigen::SelfAdjointEigenSolver<Mat>(mid, Eigen::EigenvaluesOnly).eigenvalues().maxCoeff();
  for (double grow : {0x1p-20, 0x1p-10}) {
    const double mu = std::max(top, 0.0) * (1 + grow) + 0x1p-1000;
    if (shifted_positive_definite(neg, p, -mu)) return std::min(f, root(Interval(mu)).upper());
  }
  return f;
}

}  // namespace

PolarVjpCertificate polar_vjp_certificate(const Tensor<double>& a, const Tensor<double>& g, const Tensor<double>& da,
                                          const Tensor<double>& u) {
  if (a.rank() != 2 || a.extent(0) < a.extent(1) || !(g.shape() == a.shape()) || !(da.shape() == a.shape()) ||
      !(u.shape() == a.shape()))
    throw std::invalid_argument("polar_vjp_certificate: A, G, dA and U must be n x m matrices of one shape, n >= m");
  const Index n = a.extent(0), m = a.extent(1);
  PolarVjpCertificate c;
  c.tall = n > m;
  for (Index i = 0; i < da.count(); ++i)
    if (!std::isfinite(da[i])) return fail(c, "dA has a non-finite element");
  const PolarCertificate uc = polar_certificate(a, u);
  c.epsilon = uc.bound;
  if (!std::isfinite(c.epsilon)) return fail(c, "U's certificate: " + uc.failed);
  c.alpha = norm2_upper(a), c.da_norm = norm2_upper(da), c.g_norm = norm2_upper(g);
  // With U^: H^ = U^T A, P^ = U^T dA, F^ = U^T G, and R1^ = H^ P^ + P^ H^ - F^ + F^^T, the residual of
  // U^T dA in the Sylvester equation H X + X H = U^T G - G^T U that U^T (dl/dA) solves.
  const IMat h = transpose_times(u, a), pa = transpose_times(u, da), f = transpose_times(u, g);
  IMat r1 = times(m, m, m, [&](Index i, Index l) { return h(i, l); }, [&](Index l, Index j) { return pa(l, j); });
  const IMat ph = times(m, m, m, [&](Index i, Index l) { return pa(i, l); }, [&](Index l, Index j) { return h(l, j); });
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) r1(i, j) = r1(i, j) + ph(i, j) - f(i, j) + f(j, i);
  std::vector<Interval> sym(static_cast<std::size_t>(m * m));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j <= i; ++j) sym[i * m + j] = sym[j * m + i] = half(h(i, j) + h(j, i));
  c.lambda = lambda_min_lower(sym, m);
  if (!(c.lambda > 0)) return fail(c, "sym(U^T A) is not certified positive definite");
  // An approximate eigendecomposition of sym(H^) (doubles; the search only: what it gives is
  // checked by the residuals below) for the first-order corrections Z~ ~ L^-1(R1^) and W~ ~ M^ H^-1.
  const Mat hmid = h.mid();
  const Eigen::SelfAdjointEigenSolver<Mat> eig((hmid + hmid.transpose()) / 2);
  const Mat& vv = eig.eigenvectors();
  const Eigen::VectorXd lam = eig.eigenvalues();
  Mat t = vv.transpose() * r1.mid() * vv;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) t(i, j) /= lam(i) + lam(j);
  const Mat z = vv * t * vv.transpose();
  c.z = frobenius(z);
  IMat res1 = r1;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j)
      for (Index l = 0; l < m; ++l)
        res1(i, j) = res1(i, j) - h(i, l) * Interval(z(l, j)) - Interval(z(i, l)) * h(l, j);
  c.z_res = res1.frobenius_upper();
  // The corrections are free (any Z~ and W~ serve), but a non-finite one (an eigenvalue sum that
  // under- or overflowed in double) makes no bound.
  if (!std::isfinite(c.z) || !std::isfinite(c.z_res)) return fail(c, "the first-order correction in range(U) is not finite");
  if (c.tall) {
    // N^ = dA H^ - G and M^ = (I - U^ U^T) N^: the residual of dA's part outside range(U) in
    // dA H = G there; W~ ~ M^ H^-1.
    IMat nn = times(n, m, m, [&](Index i, Index l) { return Interval(da(i, l)); }, [&](Index l, Index j) { return h(l, j); });
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < m; ++j) nn(i, j) = nn(i, j) - Interval(g(i, j));
    c.n_norm = nn.frobenius_upper();
    const IMat utn = times(m, n, m, [&](Index i, Index l) { return Interval(u(l, i)); }, [&](Index l, Index j) { return nn(l, j); });
    IMat mm = nn;
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < m; ++j)
        for (Index l = 0; l < m; ++l) mm(i, j) = mm(i, j) - Interval(u(i, l)) * utn(l, j);
    const Mat w = mm.mid() * vv * lam.cwiseInverse().asDiagonal() * vv.transpose();
    c.w = frobenius(w);
    IMat res2 = mm;
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < m; ++j)
        for (Index l = 0; l < m; ++l) res2(i, j) = res2(i, j) - Interval(w(i, l)) * h(l, j);
    c.w_res = res2.frobenius_upper();
    if (!std::isfinite(c.w) || !std::isfinite(c.w_res)) return fail(c, "the first-order correction outside range(U) is not finite");
  }
  return polar_vjp_certificate_bound(c);
}

PolarVjpCertificate polar_vjp_certificate_bound(PolarVjpCertificate c) {
  c.failed.clear();
  if (!std::isfinite(c.epsilon)) return fail(c, "U's certificate is not finite");
  // [ORTH-POLAR-VJP-BOUND]: s = lambda - eps alpha <= sigma_min(A);
  // T1 = z + (z_res + 2 eps alpha z) / (2 s) + eps da (1 + eps alpha / s) + eps (alpha da + g) / s;
  // T2 = w + (w_res + eps (2 + eps) n + eps alpha da + eps alpha w) / s (tall A; else 0);
  // ||dA^ - dl/dA||_F <= sqrt(T1^2 + T2^2).
  const Interval eps(c.epsilon), alpha(c.alpha), dan(c.da_norm), gn(c.g_norm), z(c.z), w(c.w);
  const Interval s = Interval(c.lambda) - eps * alpha;
  if (!mpfi_is_strictly_pos(s.get())) return fail(c, "sigma_min(A) is not certified above 0 (lambda <= epsilon alpha)");
  const Interval one(1.0), two(2.0), ea = eps * alpha, e2 = eps * (two + eps);
  const Interval t1 = z + (Interval(c.z_res) + two * ea * z) / (two * s) + eps * dan * (one + ea / s) +
                      eps * (alpha * dan + gn) / s;
  Interval total = square(t1);
  if (c.tall) {
    const Interval t2 = w + (Interval(c.w_res) + e2 * Interval(c.n_norm) + ea * dan + ea * w) / s;
    total = total + square(t2);
  }
  // Floored at 2^-80 ||dA^||_2, above the oracle's verified accuracy (see polar_certificate_bound):
  // found by the registry fuzzer, A = (0, a, 0)^T with the VJP computed exactly and bound 0.
  c.bound = std::max(root(total).upper(), kOracleFloor * c.da_norm);
  return c;
}

}  // namespace touchstone::orthogonal
