// The UFOM authors' counterexample to first-order MAML (spec/bilevel.md [BILEVEL-COUNTEREXAMPLE];
// brief section 2.1, their toy/toy.py get_div_problem and simulate_fo_div): two tasks with a C^1
// Huber-like loss, r = 10 inner steps of size alpha = 0.1, built so that the mean FOM gradient
// vanishes at theta_bar = 5.758867 where the true gradient M'(theta_bar) = sqrt(2 D) = 0.3464; FOM-SGD
// stalls there while UFOM-SGD approaches the stationary point theta* = 2.840282. Binary64 throughout:
// this is a demonstration of the estimators' behaviour, not an oracle.
#pragma once

#include <cstdint>
#include <vector>

namespace touchstone::counterexample {

struct Problem {
  int r = 10;
  double alpha = 0.1, D = 0.06;
  double a[2] = {0.5, 1.5}, b[2] = {0, 0};  // b[1] from the construction
  double A = 0;                             // the quadratic region's half-width, from the construction
};

// The construction of the brief's section 2.1: s_i = (1 - alpha a_i)^r,
// b_2 = 2 sqrt(2D) / |(a_1 s_1^2 + a_2 s_2^2) s_2 / (a_1 s_1 + a_2 s_2) - s_2^2|, A = |b_1/a_1 - b_2/a_2| + 1.
Problem make_problem();

// Task i's loss f and its first two derivatives at phi (z = |phi - b_i/a_i|): quadratic for
// z <= A, a cubic blend for A < z <= A + 1, linear beyond.
double loss(const Problem& p, int task, double phi);
double slope(const Problem& p, int task, double phi);
double curvature(const Problem& p, int task, double phi);

// Task i's FOM gradient f'(phi_r) and exact hypergradient prod_j (1 - alpha f''(phi_j)) f'(phi_r).
struct Gradients {
  double fom, exact;
};
Gradients gradients(const Problem& p, int task, double theta);
// M(theta) = mean over the two tasks of f(phi_r), and its derivative (the mean exact hypergradient).
double objective(const Problem& p, double theta);
double objective_slope(const Problem& p, double theta);

// One SGD run with the authors' protocol: theta_0 ~ U[-10, 30], theta_(k+1) = theta_k - 10/(k+1) g_k,
// a task drawn uniformly at each step, g = F + (xi/q)(E - F) with xi ~ Bernoulli(q) (q = 0: FOM),
// every draw from Philox streams "bilevel.counterexample/..." keyed by `seed`. `record` holds the
// step indices at which |M'(theta_k)| is recorded (ascending; k = steps means the end).
// adaptive: q as the authors' code adapts it (reptile.py, `exact_prob < 0`; brief section 3):
// q starts at q_min = 0.05; on each exact branch the EMAs (beta 0.99, bias-corrected) of
// V2 = E^2 and D2 = (g - E)^2 (the debiased estimate's deviation, as that code samples it) are
// updated, and q = max(q_min, optimal_q_two(C_det, C_rnd, D2 / 10, V2)) with C_det = r + 1,
// C_rnd = r (r - 1) / 2 + r; `q` is then ignored.
struct Run {
  double theta0, theta_final;
  std::vector<double> slope_at;  // |M'(theta_k)| at each recorded k
  long long exact_branches = 0;  // steps on which the exact hypergradient was computed
  double q_final = 0;            // the last q used
};
Run sgd(const Problem& p, double q, long long steps, std::uint64_t seed, const std::vector<long long>& record,
        bool adaptive = false);

}  // namespace touchstone::counterexample
