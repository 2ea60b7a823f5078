// [ORTH-POLAR-BOUND] A certified a-posteriori bound on the error of a computed polar factor
// (spec/orthogonal.md): from A and any n x m matrix Q^ (n >= m), an upper bound on
// ||Q^ - polar(A)||_F evaluated in interval arithmetic (MPFI), hence on every element's error.
// The polar factor is computed iteratively, so its error has no a-priori per-element bound like
// the other entries' tracked runs (spec/orthogonal.md [ORTH-POLAR-CPU]); this bounds the result.
#pragma once

#include <string>

#include "touchstone/core/tensor.hpp"

namespace touchstone::orthogonal {

struct PolarCertificate {
  // Upper bounds (lambda: a lower bound) on the quantities of [ORTH-POLAR-BOUND], for the
  // orthogonalized Q~ = Q (I - G/2), G = Q^T Q - I:
  double rho = 0;     // ||Q - Q~||_F = ||Q G||_F / 2
  double delta = 0;   // ||Q~^T Q~ - I||_F
  double kappa = 0;   // ||skew(Q~^T A)||_F
  double lambda = 0;  // lambda_min(sym(Q~^T A)) >= lambda (a lower bound)
  double lambda2 = 0; // the second smallest eigenvalue of sym(Q~^T A) >= lambda2 (>= lambda; m >= 2)
  double nu = 0;      // ||(I - W W^T) A||_F, W = polar(Q~) (0 for a square A)
  double alpha = 0;   // ||A||_F
  double bound = 0;   // >= ||Q^ - polar(A)||_F; +inf where the theorem's conditions fail
  std::string failed; // which condition failed ("" when bound is finite)
};

// A: the problem's matrix (values exact as doubles); q: the computed factor, same shape.
PolarCertificate polar_certificate(const Tensor<double>& a, const Tensor<double>& q);
// The theorem's formula on given delta, kappa, lambda, nu and alpha (their bounds), in interval
// arithmetic: sets `bound` (rounded up; +inf with `failed` where a condition fails).
PolarCertificate polar_certificate_bound(PolarCertificate c);

// [ORTH-POLAR-VJP-BOUND] A certified a-posteriori bound on the error of a computed VJP of the polar
// factor: from A, the cotangent G = dl/dQ, a candidate dA^ and any approximate polar factor U^ of A
// (all n x m, n >= m), an upper bound on ||dA^ - dl/dA||_F (hence on every element's error),
// evaluated in interval arithmetic. U^'s own certificate ([ORTH-POLAR-BOUND]) is its epsilon; the
// rest is a residual of dA^ through the Sylvester operator X -> H X + X H and through H.
struct PolarVjpCertificate {
  double epsilon = 0;  // >= ||U^ - polar(A)||_F (polar_certificate(A, U^).bound)
  double lambda = 0;   // <= lambda_min(sym(U^T A)) (a lower bound; sigma_min(A) >= lambda - epsilon alpha)
  double alpha = 0;    // >= ||A||_2 (certified; ||A||_F where that is smaller)
  double da_norm = 0;  // >= ||dA^||_2
  double g_norm = 0;   // >= ||G||_2
  double n_norm = 0;   // >= ||dA^ U^T A - G||_2 (tall A only)
  double z = 0;        // ||Z~||_F: the range(U) part's correction, first order
  double z_res = 0;    // >= ||R1 - (H^ Z~ + Z~ H^)||_F with U^ (its second-order residual)
  double w = 0;        // ||W~||_F: the complement's correction (tall A)
  double w_res = 0;    // >= ||M^ - W~ H^||_F (tall A)
  bool tall = false;   // n > m: the complement term is there
  double bound = 0;    // >= ||dA^ - dl/dA||_F; +inf where a condition fails
  std::string failed;  // why it is +inf ("" when finite)
};

PolarVjpCertificate polar_vjp_certificate(const Tensor<double>& a, const Tensor<double>& g, const Tensor<double>& da,
                                          const Tensor<double>& u);
// The theorem's formula on the fields above: sets `bound` (rounded up; +inf with `failed`).
PolarVjpCertificate polar_vjp_certificate_bound(PolarVjpCertificate c);

}  // namespace touchstone::orthogonal
