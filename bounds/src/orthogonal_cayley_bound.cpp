// [ORTH-CAYLEY-NORMWISE] A normwise bound for the Cayley map's elimination order
// (order::cayley_values, [ORTH-CAYLEY-CPU]) that holds at any n: M = I - A/2 (or I + A) has
// symmetric part I, so ||M^-1||_2 <= 1, no pivot is below 1 - delta, and the growth of the computed
// factors is bounded through G = T + S^T T^-1 S (spec/orthogonal.md derives every constant used
// here). The per-element bound of orthogonal.cayley is the smaller of this and the tracked one.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/core/tracked.hpp"

namespace touchstone::orthogonal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEta64 = 4.9406564584124654e-324;  // binary64's underflow term (2^-1074)
constexpr double kU64 = 0x1p-53;
// The number of squarings of B = S^T S: ||B^(2^J)||_inf overstates ||B||_2^(2^J) by at most
// sqrt(n), so s overstates ||S||_2 by at most n^(1/2^(J+2)) (1.04 at n = 2^14, 1.02 at 256).
constexpr int kSquarings = 6;

// The evaluation of sums of n non-negative binary64 terms (a row sum, an entry of a product):
// relative error at most gamma_n(2^-53), below 2^-39 for n <= 2^14; 1e-10 covers it with a margin.
constexpr double kSumSlack = 1 + 1e-10;

}  // namespace

double spectral_norm_upper(const std::vector<double>& s_in, Index n) {
  const std::size_t nn = static_cast<std::size_t>(n * n);
  double top = 0;
  for (const double v : s_in) {
    if (!std::isfinite(v)) return kInf;
    top = std::max(top, std::fabs(v));
  }
  if (top == 0) return 0;
  const double nd = static_cast<double>(n);
  // Exact scaling by a power of two (barring underflow of entries 2^1000 below the largest: each
  // entry then moves by at most 2^-1074, so the scaled matrix's 2-norm by at most n 2^-1074).
  const int e0 = std::ilogb(top);
  std::vector<double> s(nn);
  for (std::size_t i = 0; i < nn; ++i) s[i] = std::ldexp(s_in[i], -e0);
  const double scaled_input_err = nd * kEta64;
  // Frobenius: always an upper bound. Its sum has n^2 terms (squares of values below 2 in magnitude,
  // each rounded once), so its relative error is at most gamma_(n^2 + 1)(2^-53) <= (n^2 + 2) 2^-52;
  // the squares may underflow (2^-1074 each).
  double fro = 0;
  for (const double v : s) fro += v * v;
  fro = std::sqrt((fro * (1 + (nd * nd + 2) * 0x1p-52) + nd * nd * kEta64) * (1 + 0x1p-50)) * (1 + 1e-15);
  // B = S^T S, symmetric positive semidefinite: ||S||_2^2 = ||B||_2, and ||B||_2 <= ||B||_inf for any
  // symmetric B. |fl(B) - B| <= gamma_n |S|^T |S| + n eta, so in the inf-norm E_0 <= gamma_n ||S||_1
  // ||S||_inf + n^2 eta.
  std::vector<double> c(nn, 0.0), next(nn, 0.0);
  double norm1 = 0, norm_inf = 0;
  for (Index i = 0; i < n; ++i) {
    double row = 0, col = 0;
    for (Index k = 0; k < n; ++k) row += std::fabs(s[i * n + k]), col += std::fabs(s[k * n + i]);
    norm_inf = std::max(norm_inf, row * kSumSlack);
    norm1 = std::max(norm1, col * kSumSlack);
  }
  for (Index k = 0; k < n; ++k)
    for (Index i = 0; i < n; ++i) {
      const double ski = s[k * n + i];
      for (Index j = 0; j < n; ++j) c[i * n + j] += ski * s[k * n + j];
    }
  const double gn = gamma_k(kU64, nd);
  double err = (gn * norm1 * norm_inf + nd * nd * kEta64) * kSumSlack;
  // P_j = B^(2^j) = 2^t X_j, the computed C_j within err of X_j in the inf-norm.
  double t = 0;
  for (int j = 0; j <= kSquarings; ++j) {
    double cn = 0;
    for (Index i = 0; i < n; ++i) {
      double row = 0;
      for (Index k = 0; k < n; ++k) row += std::fabs(c[i * n + k]);
      cn = std::max(cn, row * kSumSlack);
    }
    if (!(cn > 0) || !std::isfinite(cn) || !std::isfinite(err)) break;
    // Scale by 2^-e (exact but for entries that underflow: n 2^-1074 in the inf-norm).
    const int e = std::ilogb(cn);
    for (double& v : c) v = std::ldexp(v, -e);
    cn = std::ldexp(cn, -e) + nd * kEta64;
    err = std::ldexp(err, -e) + nd * kEta64;
    t += e;
    if (j == kSquarings) {
      // ||S'||_2^(2^(J+1)) = ||P_J||_2 <= ||P_J||_inf <= 2^t (cn + err).
      const double root = std::exp2((t + std::log2((cn + err) * (1 + 1e-15))) / std::exp2(j + 1)) * (1 + 1e-12);
      const double bound = std::min(root, fro) + scaled_input_err;
      return std::ldexp(bound * (1 + 1e-15), e0);
    }
    // X_(j+1) = X_j^2: ||X^2 - fl(C C)|| <= (2 ||C|| + err) err + gamma_n ||C||^2 + n^2 eta.
    std::fill(next.begin(), next.end(), 0.0);
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < n; ++k) {
        const double cik = c[i * n + k];
        for (Index jj = 0; jj < n; ++jj) next[i * n + jj] += cik * c[k * n + jj];
      }
    c.swap(next);
    err = ((2 * cn + err) * err + gn * cn * cn + nd * nd * kEta64) * kSumSlack;
    t *= 2;
  }
  return std::ldexp((fro + scaled_input_err) * (1 + 1e-15), e0);
}

double cayley_normwise_bound(const CayleyProblem<double>& p, Format compute) {
  const Index n = p.n();
  const Rounding r = Rounding::of(format_info(compute));
  const bool pytorch = p.convention() == CayleyConvention::pytorch;
  // The inputs are values of the compute format, as the order's `input` assumes: else no bound.
  std::vector<double> a(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      const double v = i == k ? 0.0 : p.a()(i, k);
      if (!std::isfinite(v) || !representable_in(v, compute)) return kInf;
      a[static_cast<std::size_t>(i * n + k)] = v;
    }
  if (n == 1) return 0;  // Q = 1, no rounding
  const double nd = static_cast<double>(n), u = r.u, eta = r.eta, rn = std::sqrt(nd) * (1 + 1e-15);
  // s >= ||S~||_2, S~ the skew part of the M~ the backend forms: -fl(A/2) (fl(A/2) is A/2 but for
  // underflow, within eta per entry: n eta in the 2-norm) or A.
  const double norm_a = spectral_norm_upper(a, n);
  const double halving = pytorch ? nd * eta : 0.0;
  const double s = (pytorch ? norm_a / 2 + halving : norm_a) * (1 + 1e-15);
  if (!std::isfinite(s)) return kInf;
  const double g2 = gamma_k(u, 2), gn = gamma_k(u, nd), gn1 = gamma_k(u, nd + 1), g2n1 = gamma_k(u, 2 * nd + 1);
  // For a perturbation ||Delta M||_2 <= delta of M~: g(delta) >= ||G||_2, then the per-step bounds.
  struct Step {
    double g, ell, d;
  };
  auto step = [&](double delta) -> Step {
    const double g = (1 + delta) + (s + delta) * (s + delta) / ((1 - delta) * (1 - 0x1p-50));
    const double ell = (1 + g2) * 2 * g + rn * eta * 2 * g;                  // ||l^_k|| ||u_k||
    const double cf = (1 + u) * (rn * 2 * g + (1 + u) * ell + nd * eta);    // ||C^_(k+1)||_F
    const double d = 3 * u * ell + u * cf + eta * (nd + 4 * g * rn);         // ||Delta C_k||_2
    return {g * (1 + 1e-14), ell * (1 + 1e-14), d * (1 + 1e-14)};
  };
  // The induction needs n d(delta*) <= delta* < 1: iterate delta <- n d(delta) from 0 (increasing),
  // then check the inequality at a slightly larger delta*.
  double delta = 0;
  for (int it = 0; it < 60 && delta < 0.5; ++it) delta = nd * step(delta).d;
  const double delta_star = delta * (1 + 1e-6) + 1e-300;
  if (!(delta_star < 0.5)) return kInf;
  const Step at = step(delta_star);
  if (!(nd * at.d * (1 + 1e-14) <= delta_star)) return kInf;
  // Every intermediate then stays far inside the format's range (spec: below n 2^23 g*).
  if (!(at.g <= 0x1p20)) return kInf;
  const double F = nd * at.ell * (1 + 1e-14);                       // >= || |L^| |U^| ||_F
  const double labs = F / ((1 - delta_star) * (1 - 0x1p-50));       // >= || |L^| ||_2
  const double kappa = (nd * at.d + g2n1 * F) * (1 + 1e-14);        // >= ||K||_2
  const double omega = (nd * rn * eta * (1 + gn) + (1 + gn) * labs * rn * (nd + 4 * at.g) * eta * (1 + gn1)) * (1 + 1e-14);
  if (!(kappa < 0.5)) return kInf;
  const double column = (kappa + omega) / ((1 - kappa) * (1 - 0x1p-50));
  // [ORTH-BOUND-EVAL] about 40 operations on non-negative terms after the norm.
  return (column + 2 * halving) * (1 + 0x1p-20) + kEta64;
}

}  // namespace touchstone::orthogonal
