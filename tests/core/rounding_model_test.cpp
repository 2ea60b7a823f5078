// The rounding model and the product/fma error lemmas the bounds are built from, checked
// numerically on float32 and float64 arithmetic (they are proved in proofs/theories/Rounding.v and
// RoundOps.v; this guards the C++ side's use of the same constants, e.g. eta).
// covers: CORE-ROUND-MODEL CORE-ROUND-MUL CORE-ROUND-FMA
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;

namespace {
// A float spanning normal and subnormal binades, either sign.
float draw_float(PhiloxStream& rng) {
  return static_cast<float>(rng.next_log_uniform(-155, 20, true));
}
}  // namespace

TEST(RoundingModel, Float32ProductsAndFmasSatisfyTheModel) {
  const WorkingPrecision precision(256);
  const FormatInfo& f = format_info(Format::float32);
  PhiloxStream rng(7, "rounding-model");
  for (int i = 0; i < 200000; ++i) {
    const float x = draw_float(rng), y = draw_float(rng), z = draw_float(rng);
    const float p = x * y;
    if (!std::isfinite(p)) continue;
    const mp_real exact = mp_real(x) * mp_real(y);
    // fl(x) = x (1 + d) + e, |d| <= u, |e| <= eta: so |fl(x) - x| <= u |x| + eta.
    ASSERT_LE(abs(mp_real(p) - exact), f.u * abs(exact) + mp_real(f.eta)) << x << " * " << y;
    const float q = std::fma(x, y, z);
    if (!std::isfinite(q)) continue;
    const mp_real exact_fma = exact + mp_real(z);
    ASSERT_LE(abs(mp_real(q) - exact_fma), f.u * abs(exact_fma) + mp_real(f.eta));
  }
}

TEST(RoundingModel, MulAndFmaLemmasWithPerturbedOperands) {
  // x̂ = x + ex, ŷ = y + ey exactly representable perturbations; the lemma's right-hand side
  // must bound the float32 result's distance from the exact product of the unperturbed values.
  const WorkingPrecision precision(256);
  const FormatInfo& f = format_info(Format::float32);
  PhiloxStream rng(8, "lemmas");
  for (int i = 0; i < 100000; ++i) {
    const float x = draw_float(rng), y = draw_float(rng), z = draw_float(rng);
    const float xh = std::nextafter(x, rng.next_uniform() < 0.5 ? INFINITY : -INFINITY);
    const float yh = std::nextafter(y, rng.next_uniform() < 0.5 ? INFINITY : -INFINITY);
    const float zh = std::nextafter(z, rng.next_uniform() < 0.5 ? INFINITY : -INFINITY);
    const float p = xh * yh, q = std::fma(xh, yh, zh);
    if (!std::isfinite(p) || !std::isfinite(q)) continue;
    const mp_real Mx = abs(mp_real(x)), My = abs(mp_real(y)), Mz = abs(mp_real(z));
    const mp_real Ex = abs(mp_real(xh) - mp_real(x)), Ey = abs(mp_real(yh) - mp_real(y)),
                  Ez = abs(mp_real(zh) - mp_real(z));
    const mp_real mul_rhs = Mx * Ey + Ex * My + Ex * Ey + f.u * (Mx + Ex) * (My + Ey) + f.eta;
    ASSERT_LE(abs(mp_real(p) - mp_real(x) * mp_real(y)), mul_rhs);
    const mp_real fma_rhs = Mx * Ey + Ex * My + Ex * Ey + Ez + f.u * ((Mx + Ex) * (My + Ey) + Mz + Ez) + f.eta;
    ASSERT_LE(abs(mp_real(q) - (mp_real(x) * mp_real(y) + mp_real(z))), fma_rhs);
  }
}
