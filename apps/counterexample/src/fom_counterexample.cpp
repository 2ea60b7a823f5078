// The FOM counterexample (apps/counterexample/include/touchstone/counterexample/fom_counterexample.hpp).
#include "touchstone/counterexample/fom_counterexample.hpp"

#include <algorithm>
#include <cmath>

#include "touchstone/core/random.hpp"
#include "touchstone/reference/bilevel.hpp"

namespace touchstone::counterexample {

Problem make_problem() {
  Problem p;
  const double s1 = std::pow(1 - p.alpha * p.a[0], p.r), s2 = std::pow(1 - p.alpha * p.a[1], p.r);
  const double a1 = p.a[0], a2 = p.a[1];
  p.b[1] = 2 * std::sqrt(2 * p.D) / std::fabs((a1 * s1 * s1 + a2 * s2 * s2) * s2 / (a1 * s1 + a2 * s2) - s2 * s2);
  p.A = std::fabs(p.b[0] / p.a[0] - p.b[1] / p.a[1]) + 1;
  return p;
}

double loss(const Problem& p, int task, double phi) {
  const double a = p.a[task], A = p.A, z = std::fabs(phi - p.b[task] / a);
  if (z <= A) return a * z * z / 2;
  if (z <= A + 1) return -a * std::pow(z - A, 3) / 6 + a * (z - A) * (z - A) / 2 + a * A * z - a * A * A / 2;
  return (a / 2 + a * A) * z - a / 6 - a * A * A / 2 - a * A / 2;
}

double slope(const Problem& p, int task, double phi) {
  const double a = p.a[task], A = p.A, d = phi - p.b[task] / a, z = std::fabs(d);
  const double sign = d < 0 ? -1.0 : 1.0;
  if (z <= A) return a * d;
  if (z <= A + 1) return (-a * (z - A) * (z - A) / 2 + a * z) * sign;
  return (a / 2 + a * A) * sign;
}

double curvature(const Problem& p, int task, double phi) {
  const double a = p.a[task], A = p.A, z = std::fabs(phi - p.b[task] / a);
  if (z <= A) return a;
  if (z <= A + 1) return -a * z + a + a * A;
  return 0;
}

Gradients gradients(const Problem& p, int task, double theta) {
  double phi = theta, jacobian = 1;
  for (int j = 0; j < p.r; ++j) {
    jacobian *= 1 - p.alpha * curvature(p, task, phi);
    phi -= p.alpha * slope(p, task, phi);
  }
  const double g = slope(p, task, phi);
  return {g, jacobian * g};
}

double objective(const Problem& p, double theta) {
  double m = 0;
  for (int task = 0; task < 2; ++task) {
    double phi = theta;
    for (int j = 0; j < p.r; ++j) phi -= p.alpha * slope(p, task, phi);
    m += loss(p, task, phi) / 2;
  }
  return m;
}

double objective_slope(const Problem& p, double theta) {
  return (gradients(p, 0, theta).exact + gradients(p, 1, theta).exact) / 2;
}

Run sgd(const Problem& p, double q, long long steps, std::uint64_t seed, const std::vector<long long>& record,
        bool adaptive) {
  constexpr double kQmin = 0.05, kBeta = 0.99;
  const double R = p.r, c_det = R + 1, c_rnd = R * (R - 1) / 2 + R;
  double ema_v2 = 0, ema_d2 = 0, beta_power = 1;
  if (adaptive) q = kQmin;
  const PhiloxStream init(seed, "bilevel.counterexample/theta0"), tasks(seed, "bilevel.counterexample/task"),
      coins(seed, "bilevel.counterexample/xi");
  Run run;
  double theta = -10 + 40 * init.uniform(0);
  run.theta0 = theta;
  std::size_t next = 0;
  for (long long k = 0; k <= steps; ++k) {
    while (next < record.size() && record[next] == k) {
      run.slope_at.push_back(std::fabs(objective_slope(p, theta)));
      ++next;
    }
    if (k == steps) break;
    const int task = tasks.uniform(static_cast<std::uint64_t>(k)) < 0.5 ? 0 : 1;
    const bool exact = q > 0 && coins.uniform(static_cast<std::uint64_t>(k)) < q;
    const Gradients g = gradients(p, task, theta);
    const double estimate = exact ? g.fom + (g.exact - g.fom) / q : g.fom;
    run.exact_branches += exact ? 1 : 0;
    run.q_final = q;
    if (adaptive && exact) {
      ema_v2 = kBeta * ema_v2 + (1 - kBeta) * g.exact * g.exact;
      ema_d2 = kBeta * ema_d2 + (1 - kBeta) * (estimate - g.exact) * (estimate - g.exact);
      beta_power *= kBeta;
      const double v2 = ema_v2 / (1 - beta_power), d2 = ema_d2 / (1 - beta_power);
      q = std::max(kQmin, bilevel::reference::optimal_q_two(c_det, c_rnd, d2 / 10, v2));
    }
    theta -= 10.0 / static_cast<double>(k + 1) * estimate;
  }
  run.theta_final = theta;
  return run;
}

}  // namespace touchstone::counterexample
