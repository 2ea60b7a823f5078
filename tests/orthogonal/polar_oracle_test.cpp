// [ORTH-POLAR-ORACLE] The polar factor's MPFR oracle (reference::polar), the oracle of orthogonal.polar: checked
// by the polar factor's characterization (Q^T Q = I and H = Q^T A symmetric positive definite,
// which determine Q for a full-rank A), special cases, invariances and agreement at 256 and 512
// bits; the characterization fails for other conventions (QR's Q, -Q, the transpose's factor).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "test_inputs.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/reference/orthogonal.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;
using test_inputs::kExact;

namespace {

Tensor<mp_real> exact(const Tensor<double>& a) {
  Tensor<mp_real> t(a.shape());
  for (Index i = 0; i < a.count(); ++i) t[i] = mp_real(a[i]);
  return t;
}

Tensor<mp_real> product_tn(const Tensor<mp_real>& x, const Tensor<mp_real>& y) {  // x^T y
  Tensor<mp_real> out(Shape{x.extent(1), y.extent(1)}, mp_real(0));
  for (Index i = 0; i < x.extent(1); ++i)
    for (Index j = 0; j < y.extent(1); ++j)
      for (Index k = 0; k < x.extent(0); ++k) out(i, j) += x(k, i) * y(k, j);
  return out;
}

double max_abs_diff(const Tensor<mp_real>& a, const Tensor<mp_real>& b) {
  double d = 0;
  for (Index i = 0; i < a.count(); ++i) d = std::max(d, std::fabs(to_double(mp_real(a[i] - b[i]))));
  return d;
}

// How far q is from being A's polar factor: the largest of max|Q^T Q - I|, max|H - H^T| (relative
// to max|H|), and, if H is not positive definite (a Cholesky pivot <= 0), 1.
double polar_defect(const Tensor<mp_real>& q, const Tensor<mp_real>& a) {
  const Index m = q.extent(1);
  const Tensor<mp_real> g = product_tn(q, q), h = product_tn(q, a);
  double d = 0, hmax = 0;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) {
      d = std::max(d, std::fabs(to_double(mp_real(g(i, j) - (i == j ? 1 : 0)))));
      hmax = std::max(hmax, std::fabs(to_double(h(i, j))));
    }
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) d = std::max(d, std::fabs(to_double(mp_real(h(i, j) - h(j, i)))) / hmax);
  Tensor<mp_real> l(Shape{m, m}, mp_real(0));  // Cholesky of sym(H)
  for (Index j = 0; j < m; ++j)
    for (Index i = j; i < m; ++i) {
      mp_real s = (h(i, j) + h(j, i)) / 2;
      for (Index k = 0; k < j; ++k) s -= l(i, k) * l(j, k);
      if (i == j) {
        if (!(s > 0)) return 1;
        l(j, j) = sqrt(s);
      } else {
        l(i, j) = s / l(j, j);
      }
    }
  return d;
}

struct PolarShape {
  Index n, m;
};
constexpr PolarShape kShapes[] = {{1, 1}, {3, 3}, {5, 3}, {8, 8}, {10, 4}, {12, 1}};

// covers: ORTH-POLAR-DEF
// covers: ORTH-POLAR-ORACLE
TEST(PolarOracle, IsThePolarFactor) {
  const WorkingPrecision precision(256);
  for (const PolarShape& s : kShapes) {
    const Tensor<double> a = test_inputs::normal("polar", s.n, s.m, 1, "A", Format::float64);
    const Tensor<mp_real> q = reference::polar<mp_real>(PolarProblem<double>(a));
    EXPECT_LT(polar_defect(q, exact(a)), kExact) << s.n << " x " << s.m;
  }
}

// The characterization fails for other conventions: QR's Q (orthonormal, Q^T A = R not
// symmetric), -Q (Q^T A negative definite) and the polar factor with one column scaled. "Fails"
// is the comparison the polar factor passes (defect < kExact), not a guessed margin.
TEST(PolarOracle, CharacterizationFailsOtherConventions) {
  const WorkingPrecision precision(256);
  const Tensor<double> a = test_inputs::normal("polar", 6, 4, 2, "A", Format::float64);
  const Tensor<mp_real> ae = exact(a), q = reference::polar<mp_real>(PolarProblem<double>(a));
  ASSERT_LT(polar_defect(q, ae), kExact);
  EXPECT_GT(polar_defect(reference::qf_matrix(ae), ae), kExact);
  Tensor<mp_real> neg = q;
  for (Index i = 0; i < neg.count(); ++i) neg[i] = -neg[i];
  EXPECT_EQ(polar_defect(neg, ae), 1);
  Tensor<mp_real> scaled = q;
  for (Index i = 0; i < 6; ++i) scaled(i, 1) *= mp_real(1.001);
  EXPECT_GT(polar_defect(scaled, ae), kExact);
  EXPECT_GT(max_abs_diff(reference::qf_matrix(ae), q), kExact);  // QR's and the polar retraction differ
}

// polar(A) = A for orthonormal columns, I for a symmetric positive definite A; polar(c A) = polar(A)
// for c > 0; polar(U A) = U polar(A) for an orthogonal U.
TEST(PolarOracle, SpecialCasesAndInvariances) {
  const WorkingPrecision precision(256);
  const Tensor<double> a = test_inputs::normal("polar", 7, 3, 3, "A", Format::float64);
  const Tensor<mp_real> ae = exact(a), q = reference::polar<mp_real>(PolarProblem<double>(a));
  EXPECT_LT(max_abs_diff(reference::polar_matrix(q), q), kExact);
  Tensor<mp_real> spd = product_tn(ae, ae);  // A^T A, 3 x 3
  Tensor<mp_real> eye(Shape{3, 3}, mp_real(0));
  for (Index i = 0; i < 3; ++i) eye(i, i) = 1;
  EXPECT_LT(max_abs_diff(reference::polar_matrix(spd), eye), kExact);
  Tensor<mp_real> big = ae;
  for (Index i = 0; i < big.count(); ++i) big[i] *= mp_real(1000.5);
  EXPECT_LT(max_abs_diff(reference::polar_matrix(big), q), kExact);
  const Tensor<mp_real> u = reference::qf_matrix(exact(test_inputs::normal("polar", 7, 7, 3, "U", Format::float64)));
  Tensor<mp_real> ua(Shape{7, 3}, mp_real(0)), uq(Shape{7, 3}, mp_real(0));
  for (Index i = 0; i < 7; ++i)
    for (Index j = 0; j < 3; ++j)
      for (Index k = 0; k < 7; ++k) ua(i, j) += u(i, k) * ae(k, j), uq(i, j) += u(i, k) * q(k, j);
  EXPECT_LT(max_abs_diff(reference::polar_matrix(ua), uq), kExact);
  // A wrong claim fails the same comparison: polar(A) is not A's QR factor.
  EXPECT_GT(max_abs_diff(reference::qf_matrix(ae), q), 1e-3);
}

// The same oracle at 256 and 512 bits agrees (the precision doubling a registry entry would run),
// also for an ill-conditioned A (cond about 1e6 to 1e7), where the scaled Newton iteration needs its
// scaling. The QR step forms the Gram matrix, which squares the condition number, so the 256-bit
// result is good to about cond(A)^2 2^-256 (measured 5.3e-67, about 2^-220): asserted below
// 2^-200, which cond(A) <= 1e7 gives (2^-209); well-conditioned inputs agree to 2^-240.
TEST(PolarOracle, AgreesAtTwicePrecision) {
  for (const bool ill : {false, true}) {
    Tensor<double> a = test_inputs::normal("polar", 9, 5, 4, "A", Format::float64);
    if (ill)
      for (Index i = 0; i < 9; ++i) a(i, 4) = a(i, 3) + 1e-6 * a(i, 4);
    const WorkingPrecision precision(256);
    const Tensor<mp_real> q = reference::polar<mp_real>(PolarProblem<double>(a));
    EXPECT_LT(polar_defect(q, exact(a)), ill ? 1e-60 : kExact);
    const WorkingPrecision twice(512);
    const Tensor<mp_real> q2 = reference::polar<mp_real>(PolarProblem<double>(a));
    EXPECT_LT(max_abs_diff(q, q2), std::ldexp(1.0, ill ? -200 : -240)) << ill;
  }
}

// Bad input: a wide A, a non-finite entry and a rank-deficient A are InvalidInput naming A.
TEST(PolarOracle, BadInputIsInvalidInputNamingA) {
  const WorkingPrecision precision(256);
  auto names_a = [](auto&& f) {
    try {
      f();
    } catch (const InvalidInput& e) {
      return std::string(e.what()).find("A") != std::string::npos;
    }
    return false;
  };
  EXPECT_TRUE(names_a([] { PolarProblem<double>(Tensor<double>(Shape{2, 3}, 1.0)); }));
  Tensor<double> inf(Shape{3, 2}, 1.0);
  inf(1, 1) = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(names_a([&] { PolarProblem<double>{inf}; }));
  Tensor<double> rank1(Shape{4, 2}, 1.0);  // two equal columns
  EXPECT_TRUE(names_a([&] { reference::polar<mp_real>(PolarProblem<double>(rank1)); }));
}

}  // namespace
