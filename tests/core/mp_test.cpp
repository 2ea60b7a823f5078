// covers: CORE-MP CORE-MP-EIGEN
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <cmath>
#include <limits>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp_eigen.hpp"

using namespace touchstone;

TEST(WorkingPrecision, SetsAtLeastTheBitsAndRestores) {
  const unsigned before = precision_bits(mp_real(0));
  {
    const WorkingPrecision p(256);
    EXPECT_GE(p.bits(), 256u);
    EXPECT_LT(p.bits(), 256u + 8);
    EXPECT_EQ(precision_bits(mp_real(1)), p.bits());
    const WorkingPrecision q(512);
    EXPECT_GE(precision_bits(mp_real(1) / 3), 512u);
  }
  EXPECT_EQ(precision_bits(mp_real(0)), before);
}

TEST(WorkingPrecision, RejectsOutOfRange) {
  try {
    WorkingPrecision p(32);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "precision");
  }
}

TEST(MpReal, FloatsAndDoublesConvertExactly) {
  const WorkingPrecision p(kMinPrecisionBits);
  for (double x : {0.1, -1e-310, 1e308, std::ldexp(1.0, -1074), 3.0, 1.0 / 3.0}) {
    const mp_real m(x);
    EXPECT_EQ(to_double(m), x);
    EXPECT_EQ(to_double(m - mp_real(x)), 0.0);
  }
  const float f = 0.1f;
  EXPECT_EQ(to_double(mp_real(f)), static_cast<double>(f));
}

TEST(MpReal, ArithmeticOnStoredValuesKeepsPrecisionUnderAWorkingPrecision) {
  // Boost 1.74's choice of a result's precision (the default, or the operands') differs between
  // the g++ and clang builds of the same code; so code that combines stored high-precision values
  // (the metrics) sets a WorkingPrecision first, and this is what it relies on.
  mp_real third;
  {
    const WorkingPrecision p(256);
    third = mp_real(1) / 3;
  }
  EXPECT_GE(precision_bits(third), 256u);
  const WorkingPrecision q(256 + 64);
  const mp_real diff = mp_real(0.25) - third;
  EXPECT_GE(precision_bits(diff), 256u);
  // 1/4 - 1/3 = -1/12; `third` is within 2^-257 of 1/3, so 12 diff is within 12 * 2^-257 of -1:
  // at 68 bits (the default) the distance would be about 2^-68.
  EXPECT_LT(abs(diff * 12 + 1), mp_real(std::ldexp(12.0, -257)));
}

TEST(MpReal, DecimalStringRoundTrips) {
  const WorkingPrecision p(256);
  const mp_real x = mp_real(2) / 7;
  const std::string s = to_decimal_string(x);
  EXPECT_EQ(mp_real(s), x);
  EXPECT_EQ(to_decimal_string(std::numeric_limits<mp_real>::quiet_NaN()), "nan");
}

TEST(MpEigen, SelfAdjointEigenSolverAndSvdAtHighPrecision) {
  const WorkingPrecision p(256);
  using M = Eigen::Matrix<mp_real, Eigen::Dynamic, Eigen::Dynamic>;
  M a(4, 4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) a(i, j) = mp_real(1) / (i + j + 1);  // Hilbert: ill-conditioned
  const Eigen::SelfAdjointEigenSolver<M> es(a);
  ASSERT_EQ(es.info(), Eigen::Success);
  const M residual = a * es.eigenvectors() - es.eigenvectors() * es.eigenvalues().asDiagonal();
  EXPECT_LT(residual.norm(), mp_real("1e-70"));
  const Eigen::BDCSVD<M> svd(a, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const M recon = svd.matrixU() * svd.singularValues().asDiagonal() * svd.matrixV().transpose();
  EXPECT_LT((recon - a).norm(), mp_real("1e-70"));
  const Eigen::PartialPivLU<M> lu(a);
  const M x = lu.solve(M::Identity(4, 4));
  EXPECT_LT((a * x - M::Identity(4, 4)).norm(), mp_real("1e-65"));
}

TEST(MpEigen, EigenvaluesOfANonSymmetricRealMatrixAreComplex) {
  // What the S4 family needs: the eigendecomposition of a real normal matrix, whose eigenvalues
  // are complex (Eigen returns them as std::complex<mp_real>).
  const WorkingPrecision p(256);
  using M = Eigen::Matrix<mp_real, Eigen::Dynamic, Eigen::Dynamic>;
  M a(3, 3);
  a << 0, -1, 0, 1, 0, 0, 0, 0, 2;  // a rotation generator plus 2: eigenvalues +-i and 2
  const Eigen::EigenSolver<M> es(a);
  ASSERT_EQ(es.info(), Eigen::Success);
  const Eigen::ComplexEigenSolver<M> ces(a);
  ASSERT_EQ(ces.info(), Eigen::Success);
  int imaginary_units = 0;
  for (int k = 0; k < 3; ++k) {
    const auto l = ces.eigenvalues()(k);
    if (abs(abs(l.imag()) - 1) < mp_real("1e-70") && abs(l.real()) < mp_real("1e-70")) ++imaginary_units;
  }
  EXPECT_EQ(imaginary_units, 2);
  mp_real trace = 0;
  for (int k = 0; k < 3; ++k) trace += es.eigenvalues()(k).real();
  EXPECT_LT(abs(trace - 2), mp_real("1e-70"));
}

TEST(MpComplex, ArithmeticAtWorkingPrecision) {
  const WorkingPrecision p(256);
  const mp_complex z(mp_real(1), mp_real(2));
  const mp_complex w = z * z;  // (1 + 2i)^2 = -3 + 4i
  EXPECT_EQ(w.real(), mp_real(-3));
  EXPECT_EQ(w.imag(), mp_real(4));
  EXPECT_EQ(abs(z * conj(z) - mp_complex(5)), mp_real(0));
}

TEST(MpInterval, EnclosesTheExactValue) {
  const WorkingPrecision p(128);
  const mp_interval third = mp_interval(1) / 3;
  EXPECT_LT(lower(third), upper(third));
  EXPECT_LE(lower(third) * 3, mp_real(1));
  EXPECT_GE(upper(third) * 3, mp_real(1));
  const mp_interval e = exp(mp_interval(1));
  const mp_real e_hi_prec = exp(mp_real(1));
  EXPECT_LE(lower(e), e_hi_prec);
  EXPECT_GE(upper(e), e_hi_prec);
}
