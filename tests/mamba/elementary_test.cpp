// The elementary functions' error constants, on a strided sample of all float32 inputs (the full
// sweep is the `slow` test elementary_exhaustive), and glibc's binary64 functions against MPFR.
// covers: MAMBA-SCAN-ELEMENTARY CORE-ASSUME-LIBM-F64
#include <gtest/gtest.h>

#include "elementary_sweep.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/bounds/mamba_backward_bound.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {
constexpr std::uint64_t kStride = 4099;  // a prime: ~1 million inputs across every binade
constexpr double kMeasurementSlack = 0x1p-20;
}  // namespace

TEST(Elementary, ExpF32WithinItsMeasuredBound) {
  const SweepResult r = sweep_exp(kStride);
  EXPECT_LE(r.max_ulps + kMeasurementSlack, kExpF32Ulps) << "at " << r.worst_input;
  EXPECT_GT(r.count, 1000000u);
}

TEST(Elementary, SoftplusF32WithinItsMeasuredBound) {
  const SweepResult r = sweep_softplus(kStride);
  EXPECT_LE(r.max_ulps + kMeasurementSlack, kSoftplusF32Ulps) << "at " << r.worst_input;
}

TEST(Elementary, SiluF32WithinItsMeasuredBound) {
  const SweepResult r = sweep_silu(kStride);
  EXPECT_LE(r.max_ulps + kMeasurementSlack, kSiluF32Ulps) << "at " << r.worst_input;
}

// covers: MAMBA-BWD-ELEMENTARY
TEST(Elementary, SigmoidF32WithinItsMeasuredBound) {
  const SweepResult r = sweep_sigmoid(kStride);
  EXPECT_LE(r.max_ulps + kMeasurementSlack, kSigmoidF32Ulps) << "at " << r.worst_input;
}

TEST(Elementary, SpecialValues) {
  using namespace elementary;
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
  EXPECT_EQ(exp_f32(-INFINITY), 0.0f);
  EXPECT_EQ(exp_f32(INFINITY), INFINITY);
  EXPECT_EQ(exp_f32(-200.0f), 0.0f);
  EXPECT_TRUE(std::isnan(exp_f32(NAN)));
  EXPECT_TRUE(std::isnan(softplus_f32(NAN)));
  EXPECT_TRUE(std::isnan(silu_f32(NAN)));
  EXPECT_EQ(silu_f32(0.0f), 0.0f);
  EXPECT_EQ(silu_f32(-INFINITY), 0.0f);
  EXPECT_TRUE(std::signbit(silu_f32(-INFINITY)));
  EXPECT_EQ(silu_f32(INFINITY), INFINITY);
  EXPECT_EQ(silu_f32(-200.0f), 0.0f);
  EXPECT_GT(exp_f32(-100.0f), 0.0f);  // subnormal, not flushed
}

TEST(LibmF64, ExpAndLog1pWithinTheAssumedUlpsAgainstMpfr) {
  // [CORE-ASSUME-LIBM-F64] assumes glibc's binary64 exp within 1 ulp and log1p within 1 ulp
  // (softplus_f64 and silu_f64 derive 2.01 from them). Sampled here over the ranges the backends
  // use; a violation would invalidate the cpu-f64 bound.
  const WorkingPrecision precision(128);
  PhiloxStream rng(2024, "libm");
  double worst_exp = 0, worst_log1p = 0;
  for (int i = 0; i < 200000; ++i) {
    const double x = rng.next_uniform(-745.0, 709.0);
    const mp_real e = exp(mp_real(x));
    worst_exp = std::max(worst_exp, to_double(abs(mp_real(std::exp(x)) - e)) / ulp_in(e, Format::float64));
    const double y = rng.next_log_uniform(-60, 0);
    const mp_real l = log1p(mp_real(y));
    worst_log1p = std::max(worst_log1p, to_double(abs(mp_real(std::log1p(y)) - l)) / ulp_in(l, Format::float64));
  }
  EXPECT_LE(worst_exp, kExpF64Ulps);
  EXPECT_LE(worst_log1p, 1.0);
  RecordProperty("max_exp_ulps", std::to_string(worst_exp));
  RecordProperty("max_log1p_ulps", std::to_string(worst_log1p));
}

namespace touchstone::mamba::testing {
namespace {
// covers: MAMBA-BWD-ELEMENTARY
// sigmoid_f64's derived bound (relative 4u, i.e. 2.01 units of 2u|f|), sampled against MPFR.
TEST(LibmF64, SigmoidWithinItsDerivedBound) {
  const WorkingPrecision precision(128);
  PhiloxStream rng(2025, "libm-sigmoid");
  const double u = std::ldexp(1.0, -53);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double z = rng.next_uniform(-700.0, 40.0);
    const mp_real s = 1 / (1 + exp(-mp_real(z)));
    const double units = to_double(abs(mp_real(elementary::sigmoid_f64(z)) - s) / (2 * u * s));
    worst = std::max(worst, units);
  }
  EXPECT_LE(worst, kSigmoidF64Ulps);
  RecordProperty("max_sigmoid_f64_units", std::to_string(worst));
}
// covers: MAMBA-BWD-ELEMENTARY MAMBA-SCAN-BOUND-OUTPUT
// Below -709.78 e^-z overflows binary64: the C library formulas gave silu = -0 and sigmoid = 0
// where the exact values are up to 1e-302 (registry properties: z = -747.6, out = -0 for an exact
// -1.6e-322). sigmoid_f64 and silu_f64 there are within their stated error, ulps (2u |f| + 2 eta),
// against MPFR, sampled over [-760, -690] (past the underflow of the results, across the switch at
// -700), and below -700 the bounds' silu_magnitude is an upper bound.
TEST(LibmF64, SiluAndSigmoidWhereExpOfMinusZOverflows) {
  const WorkingPrecision precision(128);
  PhiloxStream rng(2026, "libm-silu-tail");
  const double u = std::ldexp(1.0, -53);
  const mp_real eta = ldexp(mp_real(1), -1075);  // not a double
  double worst_silu = 0, worst_sigmoid = 0;
  for (int i = 0; i < 100000; ++i) {
    const double z = rng.next_uniform(-760.0, -690.0);
    const mp_real s = 1 / (1 + exp(-mp_real(z))), f = mp_real(z) * s;
    worst_sigmoid = std::max(worst_sigmoid, to_double(abs(mp_real(elementary::sigmoid_f64(z)) - s) /
                                                      (2 * u * s + 2 * eta)));
    worst_silu = std::max(worst_silu, to_double(abs(mp_real(elementary::silu_f64(z)) - f) /
                                                (2 * u * abs(f) + 2 * eta)));
    if (z < -700) EXPECT_GE(mp_real(silu_magnitude(z)), abs(f)) << z;  // above: within the bound's slack
  }
  EXPECT_LE(worst_sigmoid, kSigmoidF64Ulps);
  EXPECT_LE(worst_silu, kSiluF64Ulps);
  // The case the properties found, and the old formula's answer there.
  EXPECT_LT(elementary::silu_f64(-747.5), 0.0);
  EXPECT_EQ(-747.5 / (1.0 + std::exp(747.5)), 0.0);
  RecordProperty("max_silu_f64_tail_units", std::to_string(worst_silu));
  RecordProperty("max_sigmoid_f64_tail_units", std::to_string(worst_sigmoid));
}
}  // namespace
}  // namespace touchstone::mamba::testing
