// [ORTH-SPEED-ACCURACY] The speed/accuracy table's core (bench/orthogonal_speed.hpp) at n = 8: every
// row finite, every backend's Q within that backend's own per-element bound of the table's oracle
// (so the table's oracle is the map the backend computes, convention included), and the table's
// measures reject a wrong Q (a NaN, exp(-A) for exp(A), the other Cayley convention, a column
// scaled, a missing timing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "orthogonal_speed.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

constexpr Index kN = 8;

Tensor<double> bound(const std::string& map, const speed_table::Inputs& in, Format f) {
  const OrthArithmetic m{f, false};
  if (map == "householder") return householder_product_bound(ReflectorProblem<double>(in.x), m);
  if (map == "cwy") return cwy_bound(ReflectorProblem<double>(in.x), m);
  if (map == "cayley") return cayley_bound(CayleyProblem<double>(in.a, CayleyConvention::pytorch), m);
  return matrix_exp_bound(SkewProblem<double>(in.a), m);
}

// Every |q_ij - exact_ij| <= b_ij (false for NaN).
double max_of(const Tensor<double>& b) {
  double m = 0;
  for (Index i = 0; i < b.count(); ++i) m = std::max(m, b[i]);
  return m;
}

template <class T>
bool within(const Tensor<T>& q, const Tensor<mp_real>& e, const Tensor<double>& b) {
  const WorkingPrecision p(precision_bits(e[0]));
  for (Index i = 0; i < q.count(); ++i) {
    const double d = std::fabs(to_double(mp_real(static_cast<double>(q[i])) - e[i]));
    if (!(d <= b[i])) return false;
  }
  return true;
}

// covers: ORTH-SPEED-ACCURACY
TEST(SpeedAccuracyTable, RowsAtEightAreFiniteAndWithinTheBackendsBounds) {
  const speed_table::Inputs in = speed_table::make_inputs(kN);
  // The shared parametrization: V = X and A = fl32((X - X^T) / sqrt(n)), exactly skew.
  for (Index i = 0; i < kN; ++i) {
    for (Index k = 0; k < kN; ++k) {
      ASSERT_EQ(in.a(i, k), -in.a(k, i));
      if (i != k) {
        EXPECT_EQ(in.a(i, k), static_cast<double>(static_cast<float>((in.x(i, k) - in.x(k, i)) / std::sqrt(8.0))));
      }
    }
  }
  for (const char* map : speed_table::kMaps) {
    const std::string key = std::string(map) == "householder" ? "cwy" : map;
    const speed_table::Oracle o = speed_table::oracle(key, in, 128);
    EXPECT_LT(o.gap, 1e-30) << map;
    const speed_table::Row r32 = speed_table::run<float>(kN, map, in, 2, &o.q);
    const speed_table::Row r64 = speed_table::run<double>(kN, map, in, 2, &o.q);
    for (const auto& r : {r32, r64}) {
      EXPECT_TRUE(speed_table::row_ok(r)) << map << " " << r.format;
      ASSERT_TRUE(r.error.has_value());
      EXPECT_EQ(r.repeats, 2);
      EXPECT_GT(r.defect, 0) << map;  // a rounded Q is not exactly orthogonal here
    }
    EXPECT_TRUE(within(speed_table::form<float>(map, in), o.q, bound(map, in, Format::float32))) << map;
    EXPECT_TRUE(within(speed_table::form<double>(map, in), o.q, bound(map, in, Format::float64))) << map;
    // float64 is the more accurate format on both measures.
    EXPECT_LT(r64.error.value(), r32.error.value()) << map;
    EXPECT_LT(r64.defect, r32.defect) << map;
  }
}

TEST(SpeedAccuracyTable, FailsOnAWrongQ) {
  const speed_table::Inputs in = speed_table::make_inputs(kN);
  const speed_table::Oracle exp_oracle = speed_table::oracle("exp", in, 128);
  const speed_table::Oracle cay_oracle = speed_table::oracle("cayley", in, 128);
  const Tensor<double> exp_b = bound("exp", in, Format::float32), cay_b = bound("cayley", in, Format::float32);
  const Tensor<float> q = speed_table::form<float>("exp", in);
  const std::vector<double> t{1e-3};
  ASSERT_TRUE(speed_table::row_ok(speed_table::measure(kN, "exp", q, t, &exp_oracle.q)));
  ASSERT_TRUE(within(q, exp_oracle.q, exp_b));

  Tensor<float> nan = q;  // a NaN: not a row
  nan(3, 5) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(speed_table::row_ok(speed_table::measure(kN, "exp", nan, t, &exp_oracle.q)));
  EXPECT_FALSE(within(nan, exp_oracle.q, exp_b));

  Tensor<float> back(q.shape());  // exp(-A) = exp(A)^T: orthogonal, but the wrong map
  for (Index i = 0; i < kN; ++i)
    for (Index k = 0; k < kN; ++k) back(i, k) = q(k, i);
  const speed_table::Row rb = speed_table::measure(kN, "exp", back, t, &exp_oracle.q);
  EXPECT_TRUE(speed_table::row_ok(rb));
  // Q Q^T - I and Q^T Q - I have the same spectral norm, and max|X| <= |X|_2 <= n max|X|: the
  // transpose's defect is at most n times q's. Its error is beyond the bound q is within.
  const double q_defect = speed_table::defect(q);
  EXPECT_LE(rb.defect, static_cast<double>(kN) * q_defect);
  EXPECT_GT(rb.error.value(), max_of(exp_b));
  EXPECT_FALSE(within(back, exp_oracle.q, exp_b));

  // expRNN's Cayley convention (I + A)^-1 (I - A) against PyTorch's oracle.
  const Tensor<float> other = cpu::cayley(CayleyProblem<double>(in.a, CayleyConvention::exprnn).cast<float>());
  EXPECT_GT(speed_table::measure(kN, "cayley", other, t, &cay_oracle.q).error.value(), max_of(cay_b));
  EXPECT_FALSE(within(other, cay_oracle.q, cay_b));

  // One column scaled by s = 1 + 2^-10: its squared norm is s^2 times q's, which is at least
  // 1 - q's defect, so the defect sees at least s^2 (1 - defect) - 1 (about 2^-9).
  Tensor<float> scaled = q;
  for (Index r = 0; r < kN; ++r) scaled(r, 2) *= 1 + 0x1p-10f;
  const double s2 = (1 + 0x1p-10) * (1 + 0x1p-10);
  EXPECT_GE(speed_table::measure(kN, "exp", scaled, t, &exp_oracle.q).defect, s2 * (1 - q_defect) - 1);
  EXPECT_FALSE(within(scaled, exp_oracle.q, exp_b));

  // No timing, or an infinite one: not a row.
  EXPECT_FALSE(speed_table::row_ok(speed_table::measure(kN, "exp", q, {}, &exp_oracle.q)));
  EXPECT_FALSE(speed_table::row_ok(
      speed_table::measure(kN, "exp", q, {std::numeric_limits<double>::infinity()}, &exp_oracle.q)));
}

}  // namespace
