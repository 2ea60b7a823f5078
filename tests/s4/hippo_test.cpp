// HiPPO-LegS, its NPLR and DPLR forms (spec/s4.md), and the conditioning table of
// [S4-HIPPO-COND]: why S4 does not diagonalize A directly.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <cmath>
#include <complex>
#include <cstdio>

#include "touchstone/core/mp_eigen.hpp"
#include "touchstone/reference/s4_hippo.hpp"

namespace touchstone::s4 {
namespace {

using cd = std::complex<double>;

mp_real max_abs(const Mat<mp_complex>& M) {
  mp_real m = 0;
  for (Index i = 0; i < M.rows(); ++i)
    for (Index j = 0; j < M.cols(); ++j) m = std::max(m, mp_real(abs(M(i, j))));
  return m;
}

// covers: S4-HIPPO-LEGS S4-HIPPO-NPLR
TEST(S4Hippo, LegsAndNplrStructure) {
  WorkingPrecision wp(256);
  const HippoNplr<mp_real> h = hippo_nplr<mp_real>(8);
  // The entries of annotated-s4's make_HiPPO, in closed form.
  EXPECT_EQ(h.A(3, 1), -sqrt(mp_real(21)));
  EXPECT_EQ(h.A(5, 5), mp_real(-6));
  EXPECT_EQ(h.A(1, 3), mp_real(0));
  EXPECT_EQ(h.B(4), sqrt(mp_real(9)));
  // S + S^T = -I up to the rounding of the 256-bit entries, and Skew = S + I/2 to the same.
  for (Index i = 0; i < 8; ++i)
    for (Index j = 0; j < 8; ++j) {
      const mp_real sym = h.S(i, j) + h.S(j, i) + (i == j ? mp_real(1) : mp_real(0));
      EXPECT_LE(abs(sym), mp_real(0x1p-240)) << i << "," << j;
      const mp_real sk = h.S(i, j) + (i == j ? mp_real(0.5) : mp_real(0)) - h.Skew(i, j);
      EXPECT_LE(abs(sk), mp_real(0x1p-240)) << i << "," << j;
      EXPECT_EQ(h.Skew(i, j), -h.Skew(j, i));
    }
  EXPECT_THROW(hippo_legs<double>(0), InvalidInput);
}

// annotated-s4 test_nplr (s4.py:1161), our named regression at our bound: A == V Lambda V^* - P P^T
// and A == V (Lambda - Pt Pt^*) V^*, to the 256-bit computation's accuracy (2^-200 absolute, where
// annotated-s4 allows 1e-4).
// covers: S4-HIPPO-DPLR S4-HERMITIAN-EIGEN S4-REG-NPLR
TEST(S4Hippo, AnnotatedS4TestNplr) {
  WorkingPrecision wp(256);
  for (Index N : {Index{4}, Index{8}, Index{9}, Index{16}}) {
    const HippoNplr<mp_real> h = hippo_nplr<mp_real>(N);
    const HippoDplr<mp_complex> d = hippo_dplr<mp_real, mp_complex>(N);
    Mat<mp_complex> A(N, N), PPt(N, N), Pv(N, 1);
    for (Index i = 0; i < N; ++i)
      for (Index j = 0; j < N; ++j) {
        A(i, j) = mp_complex(h.A(i, j));
        PPt(i, j) = mp_complex(h.P(i) * h.P(j));
      }
    Mat<mp_complex> L = Mat<mp_complex>::Zero(N, N), L2(N, N);
    for (Index i = 0; i < N; ++i) L(i, i) = d.Lambda(i);
    for (Index i = 0; i < N; ++i)
      for (Index j = 0; j < N; ++j) L2(i, j) = L(i, j) - d.P(i) * conj(d.P(j));
    const Mat<mp_complex> Vh = d.V.adjoint();
    const Mat<mp_complex> r1 = Mat<mp_complex>(d.V * L * Vh) - PPt - A;
    const Mat<mp_complex> r2 = Mat<mp_complex>(d.V * L2 * Vh) - A;
    EXPECT_LE(max_abs(r1), mp_real(0x1p-200)) << "N=" << N;
    EXPECT_LE(max_abs(r2), mp_real(0x1p-200)) << "N=" << N;
    // V unitary; conjugate pairs; Re Lambda = -1/2; Im descending.
    const Mat<mp_complex> I = Mat<mp_complex>(Vh * d.V) - Mat<mp_complex>::Identity(N, N);
    EXPECT_LE(max_abs(I), mp_real(0x1p-200));
    for (Index j = 0; j < N; ++j) {
      EXPECT_EQ(mp_real(real(d.Lambda(j))), mp_real(-0.5));
      EXPECT_EQ(d.Lambda(N - 1 - j), conj(d.Lambda(j)));
      EXPECT_EQ(d.P(N - 1 - j), conj(d.P(j)));
      if (j + 1 < N) {
        EXPECT_GT(mp_real(imag(d.Lambda(j))), mp_real(imag(d.Lambda(j + 1))));
      }
    }
  }
}

// The rounded form other parts use: the 256-bit form rounded, and the same at 512 bits.
// covers: S4-HIPPO-DPLR
TEST(S4Hippo, DoubleFormIsStableAcrossPrecision) {
  const HippoDplrDouble a = hippo_dplr_double(16, 256), b = hippo_dplr_double(16, 512);
  ASSERT_EQ(a.Lambda.size(), 16u);
  for (std::size_t j = 0; j < 16; ++j) {
    EXPECT_EQ(a.Lambda[j], b.Lambda[j]);
    EXPECT_EQ(a.P[j], b.P[j]);
    EXPECT_EQ(a.B[j], b.B[j]);
  }
  // The brief's measured spans: Im Lambda within +-19.857 at N = 8.
  const HippoDplrDouble c = hippo_dplr_double(8);
  EXPECT_NEAR(c.Lambda[0].imag(), 19.857, 1e-3);
  EXPECT_THROW(hippo_dplr_double(0), InvalidInput);
}

// [S4-HIPPO-COND] The table: direct diagonalization of A vs. the NPLR/DPLR route.
// The exact eigenvectors of A are T W (W_ij = (-1)^(i+j) C(i+j, i-j), T = diag(sqrt(2i+1))),
// eigenvalues -1..-N. Prints cond_1 of the column-normalized V (MPFR, 512 bits), float64
// EigenSolver's eigenvalue error and ||A - V Lambda V^-1||_max, and the float64 NPLR route's
// ||A - V (Lambda - Pt Pt^*) V^*||_max.
// covers: S4-HIPPO-COND
TEST(S4Hippo, ConditioningTable) {
  WorkingPrecision wp(512);
  std::printf("| N | cond_1(V) exact | f64 eig: max eigenvalue error | f64 eig: max|A - V L V^-1| |"
              " f64 DPLR: max|A - V(L - Pt Pt*)V*| |\n|---|---|---|---|---|\n");
  double prev_cond = 0;
  for (Index N : {Index{8}, Index{16}, Index{32}, Index{64}}) {
    // Exact eigenvectors, column-normalized.
    Mat<mp_real> V(N, N);
    for (Index i = 0; i < N; ++i)
      for (Index j = 0; j < N; ++j) {
        mp_real w = 0;
        if (i >= j) {
          // C(i+j, i-j)
          mp_real c = 1;
          for (Index t = 1; t <= i - j; ++t) c = c * mp_real(2 * j + t) / mp_real(t);
          w = ((i + j) % 2 == 0 ? c : -c) * sqrt(mp_real(2 * i + 1));
        }
        V(i, j) = w;
      }
    for (Index j = 0; j < N; ++j) V.col(j) /= V.col(j).norm();
    // Check A V = V D exactly (to 512-bit rounding), D = diag(-1..-N).
    const HippoLegs<mp_real> h = hippo_legs<mp_real>(N);
    mp_real res = 0;
    for (Index i = 0; i < N; ++i)
      for (Index j = 0; j < N; ++j) {
        mp_real s = 0;
        for (Index k = 0; k < N; ++k) s += h.A(i, k) * V(k, j);
        res = std::max(res, mp_real(abs(s + mp_real(j + 1) * V(i, j))));
      }
    EXPECT_LE(res, mp_real(0x1p-400));
    const Mat<mp_real> Vinv = V.inverse();
    auto norm1 = [](const Mat<mp_real>& M) {
      mp_real m = 0;
      for (Index j = 0; j < M.cols(); ++j) m = std::max(m, mp_real(M.col(j).cwiseAbs().sum()));
      return m;
    };
    const double cond = to_double(norm1(V) * norm1(Vinv));
    // float64 direct route.
    const Mat<double> A = hippo_legs<double>(N).A;
    Eigen::EigenSolver<Mat<double>> es(A);
    std::vector<double> ev;
    for (Index i = 0; i < N; ++i) ev.push_back(es.eigenvalues()(i).real());
    std::sort(ev.begin(), ev.end());
    double eig_err = 0;
    for (Index i = 0; i < N; ++i) eig_err = std::max(eig_err, std::abs(es.eigenvalues()(i).imag()));
    for (Index i = 0; i < N; ++i) eig_err = std::max(eig_err, std::abs(ev[i] + double(N - i)));
    const Mat<cd> Vd = es.eigenvectors();
    const Mat<cd> rec = Vd * es.eigenvalues().asDiagonal() * Vd.inverse();
    const double direct = (rec - A.cast<cd>()).cwiseAbs().maxCoeff();
    // float64 NPLR/DPLR route.
    const HippoDplr<cd> d = hippo_dplr<double, cd>(N);
    Mat<cd> L2 = Mat<cd>(d.Lambda.asDiagonal()) - d.P * d.P.adjoint();
    const double dplr = (d.V * L2 * d.V.adjoint() - A.cast<cd>()).cwiseAbs().maxCoeff();
    std::printf("| %lld | %.2e | %.2e | %.2e | %.2e |\n", static_cast<long long>(N), cond, eig_err,
                direct, dplr);
    EXPECT_GT(cond, prev_cond * 100);  // grows exponentially
    prev_cond = cond;
    EXPECT_LT(dplr, 1e-11 * static_cast<double>(N));  // the DPLR route stays near float64 rounding
  }
}

}  // namespace
}  // namespace touchstone::s4
