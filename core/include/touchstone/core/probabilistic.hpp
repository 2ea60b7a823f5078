// The probabilistic rounding-error bound of `diff`'s SUSPECT tier (spec/core.md
// [CORE-DIFF-PROBABILISTIC]), after Higham and Mary, "A new approach to probabilistic rounding
// error analysis", SIAM J. Sci. Comput. 41(5), 2019, Theorem 2.4.
//
// The model: the relative errors delta of the basic operations (+, -, *, /, fma) are independent
// random variables of mean zero with |delta| <= u. Elementary functions, underflow and the inputs'
// own errors are not in the model: a bound keeps them worst-case.
//
// The rule: an output whose computed value is sum_j x_j (1 + theta_j) + (terms outside the model),
// with x_j the exact terms and theta_j the product of the k_j factors (1 + delta) on term j's path
// (backward error form), has |theta_j| <= gamma~_k(lambda) = exp(lambda sqrt(k) u + k u^2/(1-u)) - 1
// for each j with probability at least 1 - 2 exp(-lambda^2 (1-u)^2 / 2) (Theorem 2.4). A rigorous
// bound evaluates R1 = u sum_j |x_j| k_j (its first-order rounding part) and M = sum_j |x_j| (the
// terms' magnitude); then, by Cauchy-Schwarz (sum_j |x_j| sqrt(k_j) <= sqrt(M) sqrt(R1 / u)),
//   |sum_j x_j theta_j| <= e^{y} (lambda sqrt(u M R1) + u R1 / (1 - u)),
//   y = lambda sqrt(k_max) u + k_max u^2 / (1 - u),
// for all j at once with probability at least 1 - 2 n exp(-lambda^2 (1-u)^2 / 2) over the n theta's
// (a union bound). The rest of the rigorous bound (everything but R1) is added unchanged.
#pragma once

#include <cmath>
#include <map>
#include <string>

#include "touchstone/core/tensor.hpp"

namespace touchstone {

// The family-wise probability `diff` states: under the model, a correct kernel has any element
// beyond its probabilistic bound with probability at most this.
inline constexpr double kProbabilisticAlpha = 1e-6;

// lambda such that 2 n exp(-lambda^2 (1-u)^2 / 2) <= alpha: the union over n theta's.
inline double hm_lambda(double thetas, double alpha, double u) {
  const double n = thetas < 1 ? 1.0 : thetas;
  return std::sqrt(2 * std::log(2 * n / alpha)) / (1 - u) * (1 + 0x1p-40);
}

// The bound of |sum_j x_j theta_j| above from M = sum |x_j|, R1 = u sum |x_j| k_j and k_max >= k_j.
inline double hm_sum_bound(double M, double R1, double u, double lambda, double k_max) {
  if (!(R1 > 0)) return 0.0;
  const double y = lambda * std::sqrt(k_max) * u + k_max * u * u / (1 - u);
  return std::exp(y) * (lambda * std::sqrt(u * M * R1) + u * R1 / (1 - u)) * (1 + 0x1p-40);
}

// An entry's probabilistic bound for one problem: per element of the outputs it covers, and the
// statement's parameters (the report prints them).
struct ProbabilisticBound {
  std::map<std::string, Tensor<double>> bound;
  // The rigorous any-order bound at the same compute format where the entry computes it alongside
  // (the probabilistic bound is a by-product of its evaluation); empty otherwise. `diff` then
  // does not evaluate it a second time.
  std::map<std::string, Tensor<double>> rigorous;
  double lambda = 0;  // Higham-Mary's lambda
  double thetas = 0;  // n: how many theta's the family-wise statement is over
  double alpha = kProbabilisticAlpha;
};

}  // namespace touchstone
