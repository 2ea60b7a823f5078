// Elementary functions of the optimized backends (spec/mamba.md [MAMBA-SCAN-ELEMENTARY]).
//
// Written with IEEE operations only (+, -, *, /, explicit fma, exact bit manipulation), with no
// branches that depend on data, so that
//  - gcc vectorizes a loop of calls over lanes (the cpu backends call them that way);
//  - the CPU and CUDA backends, which both include this header, get bitwise identical results
//    (compiled with contraction off: -ffp-contract=off on the host, -fmad=false on the device);
//  - the maximum error is a property of this code alone, not of a libm version, and is measured
//    exhaustively over every float32 input (tools/measure_elementary.cpp); spec states the
//    measured bounds, which the error-bound code uses.
// The double versions call the C library (glibc), whose accuracy spec/core.md names as an
// assumption ([CORE-ASSUME-LIBM-F64]).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TOUCHSTONE_HD __host__ __device__ __forceinline__
#else
#define TOUCHSTONE_HD inline __attribute__((always_inline))
#endif

namespace touchstone::elementary {

TOUCHSTONE_HD std::uint32_t bits_of(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

TOUCHSTONE_HD float float_of(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

TOUCHSTONE_HD float fma_f(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return __builtin_fmaf(a, b, c);
#endif
}

// 2^k for integer-valued k in [-126, 127], built from the exponent bits.
TOUCHSTONE_HD float pow2_f(std::int32_t k) {
  return float_of(static_cast<std::uint32_t>(k + 127) << 23);
}

// e^x in float32 ([MAMBA-SCAN-ELEMENTARY] measured max error in spec).
// x = k ln2 + r, |r| <= ln2/2 (Cody-Waite with a two-part ln2), e^r by its degree-7 Taylor
// polynomial in Horner form (truncation < 2^-27 relative), then scaled by 2^k in two exact
// steps so results in the subnormal range are rounded once. Outside [-104, 89] the result is
// the limit (0 or +inf); NaN propagates through the arithmetic.
TOUCHSTONE_HD float exp_f32(float x) {
  constexpr float log2e = 1.44269504088896341f;
  constexpr float ln2_hi = 0.693145751953125f;        // 12 significant bits: k*ln2_hi exact
  constexpr float ln2_lo = 1.428606765330187045e-06f;  // ln2 - ln2_hi
  constexpr float shifter = 12582912.0f;               // 1.5 * 2^23: rounds to an integer
  // Clamp first so k stays in range; the clamped tails and NaN are fixed by the selects at the
  // end. t = xc log2e + 1.5 2^23 lies in a binade whose ulp is 1, so t is the integer k in its
  // low mantissa bits: k is read from the bits (no float-to-int conversion, which would be
  // undefined for NaN) and kf = t - shifter is exact.
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  const float t = fma_f(xc, log2e, shifter);
  const float kf = t - shifter;
  const auto k = static_cast<std::int32_t>(bits_of(t) - bits_of(shifter));
  float r = fma_f(-kf, ln2_hi, xc);
  r = fma_f(-kf, ln2_lo, r);
  float p = 1.0f / 5040.0f;
  p = fma_f(p, r, 1.0f / 720.0f);
  p = fma_f(p, r, 1.0f / 120.0f);
  p = fma_f(p, r, 1.0f / 24.0f);
  p = fma_f(p, r, 1.0f / 6.0f);
  p = fma_f(p, r, 0.5f);
  p = fma_f(p, r, 1.0f);
  p = fma_f(p, r, 1.0f);
  const std::int32_t k1 = k / 2;  // both halves in [-75, 65]: normal powers of two
  const std::int32_t k2 = k - k1;
  float y = (p * pow2_f(k1)) * pow2_f(k2);
  y = x < -104.0f ? 0.0f : y;
  y = x > 89.0f ? __builtin_inff() : y;
  return x != x ? x : y;
}

TOUCHSTONE_HD double fma_d(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return __fma_rn(a, b, c);
#else
  return __builtin_fma(a, b, c);
#endif
}

TOUCHSTONE_HD double double_of(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// e^x in double for x in [-110, 30], the range the float32 softplus and silu below need
// (callers clamp, and handle NaN themselves: here it gives an unspecified value). Same scheme as exp_f32 with a degree-13 Taylor polynomial (truncation
// < 2^-57 relative); the result is a normal double, so one power-of-two scaling is exact.
TOUCHSTONE_HD std::uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

TOUCHSTONE_HD double exp_internal_f64(double x) {
  constexpr double log2e = 1.4426950408889634074;
  constexpr double ln2_hi = 0.693147180369123816490;   // 32 significant bits: k*ln2_hi exact
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  constexpr double shifter = 6755399441055744.0;       // 1.5 * 2^52
  const double t = fma_d(x, log2e, shifter);
  const double kf = t - shifter;
  double r = fma_d(-kf, ln2_hi, x);
  r = fma_d(-kf, ln2_lo, r);
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = fma_d(p, r, 1.0 / 479001600.0);
  p = fma_d(p, r, 1.0 / 39916800.0);
  p = fma_d(p, r, 1.0 / 3628800.0);
  p = fma_d(p, r, 1.0 / 362880.0);
  p = fma_d(p, r, 1.0 / 40320.0);
  p = fma_d(p, r, 1.0 / 5040.0);
  p = fma_d(p, r, 1.0 / 720.0);
  p = fma_d(p, r, 1.0 / 120.0);
  p = fma_d(p, r, 1.0 / 24.0);
  p = fma_d(p, r, 1.0 / 6.0);
  p = fma_d(p, r, 0.5);
  p = fma_d(p, r, 1.0);
  p = fma_d(p, r, 1.0);
  // k from t's low mantissa bits, as in exp_f32 (t's binade has ulp 1): no conversion of a
  // possible NaN to an integer.
  const std::uint64_t k_bits = bits_of(t) - bits_of(shifter);
  return p * double_of((k_bits + 1023) << 52);
}

// log(1 + y) in double for y in [0, 1]: w = fl(1 + y) = 2^j m with m in [sqrt(1/2), sqrt(2)),
// log(w) = j ln2 + 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172, odd series to s^25
// (truncation < 2^-60); the rounding of 1 + y is corrected to first order by (y - (w - 1))/w.
TOUCHSTONE_HD double log1p_unit_f64(double y) {
  constexpr double ln2 = 0.69314718055994530942;
  const double w = 1.0 + y;
  const bool high = w > 1.4142135623730951;
  const double m = high ? w * 0.5 : w;
  const double j = high ? 1.0 : 0.0;
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double q = 2.0 / 25.0;
  q = fma_d(q, s2, 2.0 / 23.0);
  q = fma_d(q, s2, 2.0 / 21.0);
  q = fma_d(q, s2, 2.0 / 19.0);
  q = fma_d(q, s2, 2.0 / 17.0);
  q = fma_d(q, s2, 2.0 / 15.0);
  q = fma_d(q, s2, 2.0 / 13.0);
  q = fma_d(q, s2, 2.0 / 11.0);
  q = fma_d(q, s2, 2.0 / 9.0);
  q = fma_d(q, s2, 2.0 / 7.0);
  q = fma_d(q, s2, 2.0 / 5.0);
  q = fma_d(q, s2, 2.0 / 3.0);
  q = fma_d(q, s2, 2.0);
  const double log_w = fma_d(j, ln2, s * q);
  const double correction = (y - (w - 1.0)) / w;
  return log_w + correction;
}

// softplus(x) = log(1 + e^x) in float32 for x <= 20 (the caller applies the threshold,
// [MAMBA-SCAN-SOFTPLUS]). Evaluated in double as max(x, 0) + log1p(e^-|x|), whose relative
// error is below 2^-48, then rounded once to float: so within about half an ulp. Below -110
// e^x is under half the smallest float subnormal and the result rounds to +0 (or the smallest
// subnormal when e^x is above 2^-150), which the double evaluation gets by itself.
TOUCHSTONE_HD float softplus_f32(float x) {
  const double xd = x;
  const double ax = xd < 0.0 ? -xd : xd;
  // Computed unconditionally, then selected: a conditional call with a division would keep
  // the compiler from vectorizing the loop.
  const double e = exp_internal_f64(ax > 110.0 ? -110.0 : -ax);
  const double l_all = log1p_unit_f64(e);
  const double l = ax > 110.0 ? 0.0 : l_all;
  const double pos = xd > 0.0 ? xd : 0.0;
  const float y = static_cast<float>(pos + l);
  return x != x ? x : y;
}

// silu(z) = z * sigmoid(z) in float32, evaluated in double and rounded once. sigmoid uses
// e = e^-|z| in (0, 1]: 1/(1 + e) for z >= 0, e/(1 + e) for z < 0, so neither side overflows.
TOUCHSTONE_HD float silu_f32(float z) {
  const double zd = z;
  const double az = zd < 0.0 ? -zd : zd;
  const double e = exp_internal_f64(az > 110.0 ? -110.0 : -az);
  const double e_full = az > 110.0 ? 0.0 : e;
  const double sig = (zd >= 0.0 ? 1.0 : e_full) / (1.0 + e_full);
  // Below -110, |silu(z)| = |z| e^z / (1 + e^z) < 2^-150 (also at z = -inf, where z * 0 would be
  // NaN): the float32 result is -0.
  const float y = (zd < -110.0) ? -0.0f : static_cast<float>(zd * sig);
  return z != z ? z : y;
}

// sigmoid(z) = 1 / (1 + e^-z) in float32, evaluated in double as in silu_f32 and rounded once
// (the backward pass's slopes, [MAMBA-BWD-ELEMENTARY]). Below -110 sigmoid(z) < 2^-158: +0.
TOUCHSTONE_HD float sigmoid_f32(float z) {
  const double zd = z;
  const double az = zd < 0.0 ? -zd : zd;
  const double e = exp_internal_f64(az > 110.0 ? -110.0 : -az);
  const double e_full = az > 110.0 ? 0.0 : e;
  const float y = static_cast<float>((zd >= 0.0 ? 1.0 : e_full) / (1.0 + e_full));
  return z != z ? z : y;
}

// Double versions: the C library ([CORE-ASSUME-LIBM-F64]). Below -700, e^-z overflows binary64
// (past -709.78) and z / (1 + e^-z) is -0 where |silu(z)| is up to 1e-302, a normal double
// (registry properties: z = -747.6 gave out = -0 for an exact -1.6e-322 in the complex scan):
// there sigmoid = e^z / (1 + e^z) and silu = z sigmoid are evaluated in x87 extended precision
// (64-bit significand, exponent to -16382, so e^z is normal) and rounded once. The branch is
// outside every range the default problems reach, so it changes no result there.
inline double exp_f64(double x) { return std::exp(x); }
inline double softplus_f64(double x) { return std::log1p(std::exp(x)); }
inline double sigmoid_f64(double z) {
  if (z < -700.0) {
    const long double e = std::exp(static_cast<long double>(z));
    return static_cast<double>(e / (1.0L + e));
  }
  return 1.0 / (1.0 + std::exp(-z));
}
inline double silu_f64(double z) {
  if (z < -700.0) {
    const long double zl = z, e = std::exp(zl);
    return static_cast<double>(zl * e / (1.0L + e));
  }
  return z / (1.0 + std::exp(-z));
}

}  // namespace touchstone::elementary
