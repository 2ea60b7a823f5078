// The FOM counterexample ([BILEVEL-COUNTEREXAMPLE]): its construction reproduces the brief's
// constants, the loss's derivatives are what they claim (against central differences), FOM's fixed
// point and the true stationary point are where the closed forms put them, and the SGD demo shows
// FOM stalling and UFOM converging on every seed.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "touchstone/counterexample/fom_counterexample.hpp"

using namespace touchstone::counterexample;

// covers: BILEVEL-COUNTEREXAMPLE
TEST(BilevelCounterexample, ConstructionDerivativesAndFixedPoints) {
  const Problem p = make_problem();
  EXPECT_NEAR(p.b[1], 17.395270, 1e-6);  // the brief's section 2.1
  EXPECT_NEAR(p.A, 12.596847, 1e-6);
  // Derivatives against central differences, in every region of both tasks' losses.
  for (int task = 0; task < 2; ++task) {
    const double c = p.b[task] / p.a[task];
    for (double z : {-20.0, -13.1, -5.0, 0.3, 7.0, 12.9, 13.4, 25.0}) {
      const double phi = c + z, h = 1e-5;
      EXPECT_NEAR(slope(p, task, phi), (loss(p, task, phi + h) - loss(p, task, phi - h)) / (2 * h), 1e-6) << task << " " << z;
      EXPECT_NEAR(curvature(p, task, phi), (slope(p, task, phi + h) - slope(p, task, phi - h)) / (2 * h), 1e-6)
          << task << " " << z;
    }
  }
  for (double theta : {-5.0, 2.0, 5.76, 14.0, 30.0}) {
    const double h = 1e-5;
    EXPECT_NEAR(objective_slope(p, theta), (objective(p, theta + h) - objective(p, theta - h)) / (2 * h), 1e-7) << theta;
  }
  // FOM's fixed point theta_bar = sum a s c / sum a s and the stationary point theta* =
  // sum a s^2 c / sum a s^2 (both in the quadratic region), s_i = (1 - alpha a_i)^r.
  double sac = 0, sa = 0, s2ac = 0, s2a = 0;
  for (int i = 0; i < 2; ++i) {
    const double s = std::pow(1 - p.alpha * p.a[i], p.r), c = p.b[i] / p.a[i];
    sac += p.a[i] * s * c, sa += p.a[i] * s, s2ac += p.a[i] * s * s * c, s2a += p.a[i] * s * s;
  }
  const double theta_bar = sac / sa, theta_star = s2ac / s2a;
  EXPECT_NEAR(theta_bar, 5.758867, 1e-6);
  EXPECT_NEAR(theta_star, 2.840282, 1e-6);
  EXPECT_NEAR((gradients(p, 0, theta_bar).fom + gradients(p, 1, theta_bar).fom) / 2, 0, 1e-12);
  EXPECT_NEAR(objective_slope(p, theta_bar), std::sqrt(2 * p.D), 1e-9) << "|M'|^2 = 2 D at FOM's fixed point";
  EXPECT_NEAR(objective_slope(p, theta_star), 0, 1e-12);
}

// covers: BILEVEL-COUNTEREXAMPLE
// The demo's claim on every seed: after 10^4 steps FOM-SGD's |M'| is still above 0.3 (it stalls at
// theta_bar, where |M'| = 0.3464), UFOM-SGD's (q = 0.1, and adaptive) below 0.1; with q = 0 in place of 0.1 the
// "UFOM" runs are FOM's and the second check fails, so it can.
TEST(BilevelCounterexample, FomStallsUfomConverges) {
  const Problem p = make_problem();
  const std::vector<long long> end = {10000};
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const touchstone::counterexample::Run fom = sgd(p, 0, 10000, seed, end), ufom = sgd(p, 0.1, 10000, seed, end);
    EXPECT_GT(fom.slope_at.back(), 0.3) << seed;
    EXPECT_NEAR(fom.theta_final, 5.76, 0.2) << seed;
    EXPECT_LT(ufom.slope_at.back(), 0.1) << seed;
    EXPECT_NEAR(ufom.exact_branches, 1000, 5 * std::sqrt(10000 * 0.1 * 0.9)) << seed;
    EXPECT_EQ(fom.exact_branches, 0);
    EXPECT_EQ(ufom.theta0, fom.theta0) << "the same start for both";
    // Adaptive UFOM: converges too, with q in [q_min, 1] and more exact branches than q = 0.1 takes.
    const touchstone::counterexample::Run adaptive = sgd(p, 0, 10000, seed, end, true);
    EXPECT_LT(adaptive.slope_at.back(), 0.1) << seed;
    EXPECT_GE(adaptive.q_final, 0.05);
    EXPECT_LE(adaptive.q_final, 1.0);
    EXPECT_GT(adaptive.exact_branches, ufom.exact_branches) << seed;
  }
}
