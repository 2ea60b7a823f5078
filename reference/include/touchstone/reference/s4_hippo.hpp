// HiPPO-LegS and its normal-plus-low-rank (NPLR) and diagonal-plus-low-rank (DPLR) forms
// (spec/s4.md [S4-HIPPO-LEGS], [S4-HIPPO-NPLR], [S4-HIPPO-DPLR], [S4-HERMITIAN-EIGEN]).
//
// Templated on the scalar pair <Real, Complex>. Instantiated (reference/src/s4_hippo_reference.cpp,
// the only translation unit that does) with
//   <mp_real, mp_complex>            MPFR/MPC at the working precision: the oracle's DPLR form;
//   <double, std::complex<double>>   what float64 gets by the same route (spec/s4.md conditioning table).
// Part B (S4D-LegS init) and the registry call `hippo_dplr_double`, which computes at high precision
// and rounds once.
#pragma once

#include <Eigen/Core>
#include <complex>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::s4 {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// [S4-HIPPO-LEGS] A_nk = -sqrt(2n+1) sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k);
// B_n = sqrt(2n+1). (annotated-s4 make_HiPPO; state-spaces/s4 transition('legs').)
template <class Real>
struct HippoLegs {
  Mat<Real> A;
  Vec<Real> B;
};

// [S4-HIPPO-NPLR] P_n = sqrt(n + 1/2), S = A + P P^T, with S + S^T = -I exactly.
template <class Real>
struct HippoNplr {
  Mat<Real> A;
  Vec<Real> P, B;
  Mat<Real> S;     // the normal part A + P P^T
  Mat<Real> Skew;  // S - diag(S) = S + I/2, real antisymmetric (exactly, [S4-HIPPO-NPLR])
};

// [S4-HERMITIAN-EIGEN] H = V diag(values) V^*, values ascending, V unitary, each column's phase
// fixed so that its first component of modulus >= 1/(2 sqrt(n)) is real and positive.
template <class Real, class Complex>
struct HermitianEigen {
  Vec<Real> values;
  Mat<Complex> vectors;
};

// [S4-HIPPO-DPLR] A = V (Lambda - Pt Pt^*) V^*, Lambda = -1/2 + i mu with mu the eigenvalues of
// the Hermitian -i Skew, sorted by Im descending; conjugate pairs: Lambda[N-1-j] = conj(Lambda[j])
// and V[:, N-1-j] = conj(V[:, j]) exactly (so Pt and Bt pair the same way). Pt = V^* P, Bt = V^* B.
template <class Complex>
struct HippoDplr {
  Vec<Complex> Lambda, P, B;
  Mat<Complex> V;
};

// The DPLR form rounded to double, for initializations (S4D-LegS, the default problems).
struct HippoDplrDouble {
  std::vector<std::complex<double>> Lambda, P, B;  // N values each, the ordering of HippoDplr
};

template <class Real>
HippoLegs<Real> hippo_legs(Index N);
template <class Real>
HippoNplr<Real> hippo_nplr(Index N);
template <class Real, class Complex>
HermitianEigen<Real, Complex> hermitian_eigen(const Mat<Complex>& H);
template <class Real, class Complex>
HippoDplr<Complex> hippo_dplr(Index N);

// Computes the DPLR form at `precision_bits` (MPFR) and rounds each part to the nearest double.
// Cached per (N, bits) behind a mutex. A cache miss sets the process-wide MPFR default precision
// while it computes (WorkingPrecision, restored after): do not call it for a new (N, bits) while
// other threads compute with MPFR ([CORE-MP]). InvalidInput("N") unless 1 <= N <= 512.
HippoDplrDouble hippo_dplr_double(Index N, unsigned precision_bits = kDefaultPrecisionBits);

// embed-begin hippo_legs
template <class Real>
HippoLegs<Real> hippo_legs(Index N) {
  using std::sqrt;
  if (N < 1) throw InvalidInput("N", "HiPPO size must be >= 1, got " + std::to_string(N));
  HippoLegs<Real> h{Mat<Real>::Zero(N, N), Vec<Real>(N)};
  for (Index n = 0; n < N; ++n) {
    h.B(n) = sqrt(Real(2 * n + 1));
    for (Index k = 0; k < n; ++k) h.A(n, k) = -(sqrt(Real(2 * n + 1)) * sqrt(Real(2 * k + 1)));
    h.A(n, n) = -Real(n + 1);
  }
  return h;
}
// embed-end hippo_legs

// embed-begin hippo_nplr
template <class Real>
HippoNplr<Real> hippo_nplr(Index N) {
  using std::sqrt;
  HippoLegs<Real> h = hippo_legs<Real>(N);
  HippoNplr<Real> r;
  r.A = h.A;
  r.B = h.B;
  r.P = Vec<Real>(N);
  for (Index n = 0; n < N; ++n) r.P(n) = sqrt(Real(n) + Real(0.5));
  r.S = Mat<Real>(N, N);
  for (Index n = 0; n < N; ++n)
    for (Index k = 0; k < N; ++k) r.S(n, k) = r.A(n, k) + r.P(n) * r.P(k);
  // The skew part, written from its closed form -1/2 sign(n-k) sqrt((2n+1)(2k+1)) so that it is
  // exactly antisymmetric at any precision (S's rounded entries differ from it by rounding only).
  r.Skew = Mat<Real>::Zero(N, N);
  for (Index n = 0; n < N; ++n)
    for (Index k = 0; k < n; ++k) {
      const Real s = sqrt(Real(2 * n + 1)) * sqrt(Real(2 * k + 1)) / Real(2);
      r.Skew(n, k) = -s;
      r.Skew(k, n) = s;
    }
  return r;
}
// embed-end hippo_nplr

}  // namespace touchstone::s4
