// [ORTH-LAPACK-NORMWISE] A normwise bound for the LAPACK convention's column-by-column order
// ([ORTH-LAPACK-CPU]), with free tau: spec/orthogonal.md derives every term below.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/bounds/orthogonal_bound.hpp"

namespace touchstone::orthogonal {

// Column c of H_1 ... H_k e_c: the reflections i > c leave e_c exactly as it is (v_i . e_c = 0, so
// w = 0, t = 0 and every update subtracts an exact 0), so only i = min(c, k-1) .. 0 (0-based) act.
// Per step i, with K = m - i terms in w, s = ||v_i||^2 = 1 + sum_j>i A_ji^2 within [s_lo, s_hi],
// nv >= ||v_i||_2 and h >= ||H_i||_2 = max(1, |1 - tau_i s|), from the computed column y^ with
// ||y^||_2 <= Y and ||y^ - y||_2 <= E:
//   Dw = gamma_K nv Y + K eta (1 + gamma_K)    >= |w^ - v . y^|   (products rounded once, any order)
//   W  = nv Y + Dw                              >= |w^|
//   Dt = |tau| Dw + u |tau| W + eta             >= |t^ - tau (v . y^)|
//   T  = |tau| nv Y + Dt                        >= |t^|
//   I  = Dt nv + u T nv + sqrt(K) eta           >= ||p - H y^||_2 (p: the updates before their last rounding)
//   ||delta||_2 <= I + u (h Y + I),  E' = h E + ||delta||_2,  Y' = h Y + ||delta||_2.
// Domain: every exact value rounded along the way is at most the format's largest finite number
// (the products and partial sums of w by Wmax = (1 + gamma_K)(nv Y + K eta), tau w by |tau| Wmax,
// t A_ji and the updates by Y + (1 + u) T' nv + eta with T' = (1 + u) |tau| Wmax + eta), and every
// input is a value of the compute format (else +inf: the backends would round it).
std::vector<double> householder_product_lapack_normwise(const LapackProblem<double>& p, Format compute) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  constexpr double kTiny = 4.9406564584124654e-324;  // 2^-1074
  const Index m = p.m(), n = p.n(), k = p.k();
  const Rounding r = Rounding::of(format_info(compute));
  const double u = r.u, eta = r.eta;
  std::vector<double> out(static_cast<std::size_t>(n), kInf);
  for (Index i = 0; i < k; ++i)
    if (!representable_in(p.tau()[i], compute)) return out;
  for (Index i = 0; i < k; ++i)  // the reflectors read: A's strict lower triangle in its first k columns
    for (Index j = i + 1; j < m; ++j)
      if (!representable_in(p.a()(j, i), compute)) return out;

  // Per reflection: nv >= ||v_i||_2, h >= ||H_i||_2, |tau_i|, K and gamma_K.
  struct Step {
    double nv, h, tau, K, gK;
  };
  std::vector<Step> steps(static_cast<std::size_t>(k));
  for (Index i = 0; i < k; ++i) {
    const double K = static_cast<double>(m - i);
    double s = 1;  // 1 + sum A_ji^2 in binary64: K non-negative terms, each square may underflow
    for (Index j = i + 1; j < m; ++j) s += p.a()(j, i) * p.a()(j, i);
    const double rel = (K + 4) * 0x1p-52, abs_err = K * kTiny;
    const double s_lo = std::max(1.0, s * (1 - rel) - abs_err), s_hi = (s + abs_err) * (1 + rel);
    const double tau = p.tau()[i], at = std::fabs(tau);
    // |1 - tau s'| is convex in s', so its largest value on [s_lo, s_hi] is at an end; each is
    // evaluated within 2^-51 (1 + |tau| s_hi) + 2^-1074, covered by the 2^-50 term.
    const double g = std::max(std::fabs(1 - tau * s_lo), std::fabs(1 - tau * s_hi));
    const double h = std::max(1.0, g + 0x1p-50 * (1 + at * s_hi) + kTiny);
    steps[i] = {std::sqrt(s_hi) * (1 + 0x1p-50), h, at, K, gamma_k(u, K)};
  }

  // [ORTH-BOUND-EVAL] at most 40 operations per step on non-negative terms.
  const double slack = bounds::slack_for(40.0 * static_cast<double>(k + 1));
  const double limit = r.max_finite * (1 - 0x1p-30);
  for (Index c = 0; c < n; ++c) {
    double E = 0, Y = 1;
    bool inside = true;
    for (Index i = std::min(c, k - 1); i >= 0 && inside; --i) {
      const Step& st = steps[i];
      const double nv = st.nv, at = st.tau, K = st.K, gK = st.gK;
      const double Dw = gK * nv * Y + K * eta * (1 + gK);
      const double W = nv * Y + Dw;
      const double Dt = at * Dw + u * at * W + eta;
      const double T = at * nv * Y + Dt;
      const double I = Dt * nv + u * T * nv + std::sqrt(K) * eta;
      const double delta = I + u * (st.h * Y + I);
      const double Wmax = (1 + gK) * (nv * Y + K * eta);
      const double Tmax = (1 + u) * at * Wmax + eta;
      const double largest = std::max({Wmax, at * Wmax, Y + (1 + u) * Tmax * nv + eta});
      inside = largest <= limit;
      E = st.h * E + delta;
      Y = st.h * Y + delta;
    }
    if (inside && std::isfinite(E)) out[c] = E * (1 + slack) + kTiny;
  }
  return out;
}

}  // namespace touchstone::orthogonal
