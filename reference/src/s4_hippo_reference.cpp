// The one translation unit that instantiates the HiPPO DPLR templates (spec/s4.md [S4-HIPPO-DPLR],
// [S4-HERMITIAN-EIGEN]): Eigen's eigensolver on MPFR compiles slowly; every other user links these.
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <utility>

#include "touchstone/core/mp_eigen.hpp"
#include "touchstone/reference/s4_hippo.hpp"

namespace touchstone::s4 {

namespace {
template <class Complex, class Real>
Complex cplx(const Real& re, const Real& im) {
  return Complex(re, im);
}
}  // namespace

// embed-begin hermitian_eigen
// [S4-HERMITIAN-EIGEN] H = X + iY Hermitian (X symmetric, Y antisymmetric) is diagonalized through
// the real symmetric M = [[X, -Y], [Y, X]] of size 2n: M [a; b] = mu [a; b] iff H (a + ib) = mu (a + ib),
// so every eigenvalue of H is an eigenvalue of M twice, with eigenvectors [a; b] and [-b; a] (the
// images of v and i v). Eigen's SelfAdjointEigenSolver (QR on the tridiagonal form) works at any
// precision with the NumTraits of core/mp_eigen.hpp. Of each (sorted) pair we keep the first
// vector, mapped to a + ib: it has unit norm. Needs the eigenvalues of H to be distinct (else the
// pairs of M can mix two of H's eigenspaces); hippo_dplr's are (spec/s4.md).
template <class Real, class Complex>
HermitianEigen<Real, Complex> hermitian_eigen(const Mat<Complex>& H) {
  using std::abs, std::sqrt;
  const Index n = H.rows();
  if (n < 1 || H.cols() != n) throw InvalidInput("H", "must be a non-empty square matrix");
  Mat<Real> M(2 * n, 2 * n);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) {
      // Symmetrize exactly: X = (H + H^*)/2 real part, Y its imaginary part.
      const Real x = (Real(real(H(i, j))) + Real(real(H(j, i)))) / Real(2);
      const Real y = (Real(imag(H(i, j))) - Real(imag(H(j, i)))) / Real(2);
      M(i, j) = x;
      M(n + i, n + j) = x;
      M(i, n + j) = -y;
      M(n + i, j) = y;
    }
  Eigen::SelfAdjointEigenSolver<Mat<Real>> es(M);
  if (es.info() != Eigen::Success) throw std::runtime_error("hermitian_eigen: no convergence");
  HermitianEigen<Real, Complex> r{Vec<Real>(n), Mat<Complex>(n, n)};
  const Real threshold = Real(1) / (Real(4) * Real(n));  // |v_k|^2 >= 1/(4n) for some k
  for (Index j = 0; j < n; ++j) {
    const Index c = 2 * j;  // ascending: pairs (2j, 2j+1)
    r.values(j) = (es.eigenvalues()(c) + es.eigenvalues()(c + 1)) / Real(2);
    Vec<Complex> v(n);
    for (Index i = 0; i < n; ++i) v(i) = cplx<Complex>(es.eigenvectors()(i, c), es.eigenvectors()(n + i, c));
    // Phase: the first component with |v_k|^2 >= 1/(4n) becomes real positive.
    Index k = 0;
    while (k + 1 < n && !(Real(norm(v(k))) >= threshold)) ++k;
    const Complex phase = conj(v(k)) / Complex(Real(abs(v(k))));
    for (Index i = 0; i < n; ++i) r.vectors(i, j) = v(i) * phase;
    r.vectors(k, j) = Complex(Real(abs(v(k))));
  }
  return r;
}
// embed-end hermitian_eigen

// embed-begin hippo_dplr
// [S4-HIPPO-DPLR] Lambda = -1/2 + i mu, mu the eigenvalues of the Hermitian -i Skew (Skew = S + I/2
// exactly), sorted by Im descending; V its unitary eigenvectors; conjugate pairs made exact;
// Pt = V^* P, Bt = V^* B.
template <class Real, class Complex>
HippoDplr<Complex> hippo_dplr(Index N) {
  const HippoNplr<Real> h = hippo_nplr<Real>(N);
  Mat<Complex> H(N, N);
  for (Index i = 0; i < N; ++i)
    for (Index j = 0; j < N; ++j) H(i, j) = cplx<Complex>(Real(0), Real(-h.Skew(i, j)));
  const HermitianEigen<Real, Complex> e = hermitian_eigen<Real, Complex>(H);
  HippoDplr<Complex> d{Vec<Complex>(N), Vec<Complex>(N), Vec<Complex>(N), Mat<Complex>(N, N)};
  // Ascending -> descending; mu_j = -mu_{N-1-j} pairs conj(v_j) with the mirrored column.
  for (Index j = 0; j < N; ++j) {
    const Index s = N - 1 - j;
    d.Lambda(j) = cplx<Complex>(Real(-0.5), e.values(s));
    d.V.col(j) = e.vectors.col(s);
  }
  for (Index j = 0; j < N / 2; ++j) {
    const Index m = N - 1 - j;
    d.Lambda(m) = conj(d.Lambda(j));
    for (Index i = 0; i < N; ++i) d.V(i, m) = conj(d.V(i, j));
  }
  if (N % 2 == 1) {  // the middle eigenvalue is 0: its eigenvector is real (the kernel of a real
    const Index m = N / 2;  // matrix), and after the phase fix real up to rounding: made exactly real
    d.Lambda(m) = cplx<Complex>(Real(-0.5), Real(0));
    for (Index i = 0; i < N; ++i) d.V(i, m) = cplx<Complex>(Real(real(d.V(i, m))), Real(0));
  }
  for (Index j = 0; j < N; ++j) {
    Complex p = cplx<Complex>(Real(0), Real(0)), b = p;
    for (Index i = 0; i < N; ++i) {
      p = p + conj(d.V(i, j)) * Complex(h.P(i));
      b = b + conj(d.V(i, j)) * Complex(h.B(i));
    }
    d.P(j) = p;
    d.B(j) = b;
  }
  for (Index j = 0; j < N / 2; ++j) {  // conjugate pairs exactly (P and B are real)
    d.P(N - 1 - j) = conj(d.P(j));
    d.B(N - 1 - j) = conj(d.B(j));
  }
  return d;
}
// embed-end hippo_dplr

template HermitianEigen<mp_real, mp_complex> hermitian_eigen<mp_real, mp_complex>(const Mat<mp_complex>&);
template HermitianEigen<double, std::complex<double>> hermitian_eigen<double, std::complex<double>>(
    const Mat<std::complex<double>>&);
template HippoDplr<mp_complex> hippo_dplr<mp_real, mp_complex>(Index);
template HippoDplr<std::complex<double>> hippo_dplr<double, std::complex<double>>(Index);
template HippoLegs<mp_real> hippo_legs<mp_real>(Index);
template HippoLegs<double> hippo_legs<double>(Index);
template HippoNplr<mp_real> hippo_nplr<mp_real>(Index);
template HippoNplr<double> hippo_nplr<double>(Index);

HippoDplrDouble hippo_dplr_double(Index N, unsigned precision_bits) {
  if (N < 1 || N > 512) throw InvalidInput("N", "HiPPO DPLR size must be in [1, 512], got " + std::to_string(N));
  static std::mutex mutex;
  static std::map<std::pair<Index, unsigned>, HippoDplrDouble> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(N, precision_bits);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  WorkingPrecision wp(precision_bits);
  const HippoDplr<mp_complex> d = hippo_dplr<mp_real, mp_complex>(N);
  HippoDplrDouble r;
  auto round = [](const mp_complex& z) {
    return std::complex<double>(to_double(mp_real(real(z))), to_double(mp_real(imag(z))));
  };
  for (Index j = 0; j < N; ++j) {
    r.Lambda.push_back(round(d.Lambda(j)));
    r.P.push_back(round(d.P(j)));
    r.B.push_back(round(d.B(j)));
  }
  cache.emplace(key, r);
  return r;
}

}  // namespace touchstone::s4
