// Evaluation of the selective scan error bounds; every formula here is derived in spec/mamba.md
// under the ID cited next to it. The state recurrence and the fused dot of the sequential fma
// model are proved in proofs/theories/MambaScanBound.v (state_bound_mag, dot_bound_mag); each
// rule below names the Coq theorem it instantiates ("proved: ...") or says it is on paper.
// The CPU backends' order is order/include/touchstone/order/mamba_order.hpp. This file counts its
// roundings in closed form rather than running it on Tracked values (the bound is most of
// `touchstone diff`'s time at production shapes); tests/mamba/scan_tracked_test.cpp runs the
// header on Tracked values and requires the closed form to be at least that on every element.
//
// Notation: for a quantity q the implementation computes, M(q) >= |q| bounds the exact value's
// magnitude and E(q) >= |q_computed - q_exact| its error; u and eta are the compute format's
// unit roundoff and underflow term. Every expression adds non-negative terms (no cancellation),
// evaluated in double; [MAMBA-SCAN-BOUND-EVAL] covers that evaluation's own rounding with the
// final factor (1 + slack).
#include "touchstone/bounds/mamba_bound.hpp"

#include "touchstone/core/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "touchstone/core/probabilistic.hpp"
#include "touchstone/core/tracked.hpp"

namespace touchstone::mamba {

namespace {
// The sequential fma order of the CPU backends ([MAMBA-SCAN-CPU]) in format f.
ScanArithmetic sequential(const char* name, Format f, double exp_ulps, double softplus_ulps,
                          double silu_ulps) {
  ScanArithmetic m;
  m.name = name;
  m.compute = m.storage = format_info(f);
  m.exp_ulps = exp_ulps;
  m.softplus_ulps = softplus_ulps;
  m.silu_ulps = silu_ulps;
  return m;
}
}  // namespace

ScanArithmetic arithmetic_cpu_f32() {
  return sequential("cpu-f32", Format::float32, kExpF32Ulps, kSoftplusF32Ulps, kSiluF32Ulps);
}

ScanArithmetic arithmetic_cpu_f64() {
  return sequential("cpu-f64", Format::float64, kExpF64Ulps, kSoftplusF64Ulps, kSiluF64Ulps);
}

double silu_magnitude(double z) {
  constexpr double kTiny = 4.9406564584124654e-324;
  if (z < -700) return std::fabs(silu_value(z)) * (1 + 0x1p-50) + 2 * kTiny;
  return std::fabs(z / (1 + std::exp(-z))) + kTiny;
}

ScanArithmetic arithmetic_cuda_f32(int tree_depth, int chunk) {
  ScanArithmetic m = arithmetic_cpu_f32();
  m.name = "cuda-f32";
  // Each combine is (a2 a1, fma(a2, b1, b2)): per step one rounding on a term's path (its share
  // of the a-products), plus one per chunk boundary crossed; at most tree_depth combines add it
  // to other terms, plus the entry fma and the carry-in fma.
  m.step_roundings = 1.0 + 1.0 / chunk;
  m.term_roundings = tree_depth + 2;
  m.initial_roundings = tree_depth + 2;
  // Underflow: per step the fold's product and fma and the recompute's fma (3), plus at a
  // thread's boundary step the product and fma of each of its <= tree_depth combines.
  m.underflows_per_step = 2 * tree_depth + 3;
  m.forms_products = true;
  m.product_span = chunk;
  return m;
}

ScanArithmetic arithmetic_any_order(Format storage, Index seqlen, double elementary_ulps) {
  ScanArithmetic m;
  m.name = "any-order";
  m.storage = format_info(storage);
  m.compute = format_info(storage == Format::float64 ? Format::float64 : Format::float32);
  const int depth = static_cast<int>(std::min<Index>(seqlen + 1, 1 << 30));
  m.step_roundings = 2;
  m.term_roundings = depth;
  m.initial_roundings = depth;
  m.underflows_per_step = 2 * depth;
  m.forms_products = true;
  m.exp_arg_roundings = 3;
  m.exp_ulps = m.softplus_ulps = m.silu_ulps = elementary_ulps;
  m.fused_dot = false;
  m.fused_skip = false;
  return m;
}

ScanArithmetic arithmetic_reference(unsigned bits) {
  ScanArithmetic m;
  m.name = "reference";
  m.compute = m.storage = mpfr_format_info(bits);
  // h = A_bar h + B_bar_u: a rounded product, then a rounded sum.
  m.step_roundings = 2;
  m.term_roundings = 1;
  m.initial_roundings = 0;
  m.underflows_per_step = 0;
  // MPFR's exp and log1p are correctly rounded (half an ulp); softplus = log1p(exp(x)) is two of
  // them (relative error < 2.01u, i.e. 1.01 ulp of 2u); silu = z / (1 + exp(-z)) three
  // roundings after exp (< 4.01u).
  m.exp_ulps = 0.5;
  m.softplus_ulps = 1.01;
  m.silu_ulps = 2.01;
  m.fused_dot = false;
  m.fused_skip = false;
  return m;
}

namespace {

using namespace scan_bound;

// An upper bound of expm1(x) for x >= 0, cheaper than expm1 for the tiny x the bound meets
// (argument errors of a few ulps): expm1(x) = x + x^2/2 + ... <= x + (e - 2) x^2 <= x (1 + x) for
// x <= 1. The double evaluation's own rounding is within the bound's evaluation slack
// ([MAMBA-SCAN-BOUND-EVAL]), as expm1's was.
inline double expm1_upper(double x) { return x <= 0x1p-10 ? x * (1 + x) : std::expm1(x); }

// scan_bound::mul with an exact operand y (an input): RoundOps.v mul_bound with Ey = 0.
Q mul_exact(Q x, double y, double u, double eta) { return mul(x, {std::fabs(y), 0.0}, u, eta); }

}  // namespace

double selective_scan_thetas(const SelectiveScanProblem<double>& p) {
  const double B = static_cast<double>(p.batch()), D = static_cast<double>(p.dim());
  const double N = static_cast<double>(p.dstate()), L = static_cast<double>(p.seqlen());
  return B * D * (L * (N * (L + 2) + 1) + N * (L + 2));
}

SelectiveScanResult<double> selective_scan_bound(const SelectiveScanProblem<double>& p,
                                                 const ScanArithmetic& m,
                                                 ScanProbabilistic* probabilistic) {
  if (probabilistic && (m.fused_dot || m.fused_skip))
    throw std::logic_error("selective_scan_bound: the probabilistic bound is for separate roundings only");
  const auto& in = p.in();
  const Formats f(m.compute, m.storage);
  const double u = f.u, eta = f.eta, fmax = f.fmax;
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  // [MAMBA-SCAN-BOUND-EVAL]
  const double slack = std::max(std::ldexp(1.0, -20), static_cast<double>(L + N) * std::ldexp(1.0, -40));
  // [MAMBA-SCAN-BOUND-STATE] In any association order a term is added to others at most L
  // times (once per other leaf of the combine tree: h0 and L inputs) and at most 2(L + 1)
  // roundings end at any one step, so these clamps hold for every model.
  const double leaves = static_cast<double>(L) + 1;
  // (1+u)^k - 1 is kept apart from 1: for u below 2^-53 (the oracle's own bound) 1 + it is 1.
  const double g_step = gamma_k(u, m.step_roundings);                          // (1+u)^k - 1
  const double q_step = 1 + g_step;                                           // (1+u)^k
  const double g_term = gamma_k(u, std::min<double>(m.term_roundings, leaves));    // (1+u)^c - 1
  const double g_init = gamma_k(u, std::min<double>(m.initial_roundings, leaves)); // (1+u)^c0 - 1
  const double underflows = std::min<double>(m.underflows_per_step, 2 * leaves);
  const double g_dot = gamma_k(u, static_cast<double>(N));

  SelectiveScanResult<double> r{Tensor<double>(Shape{batch, dim, L}),
                                Tensor<double>(Shape{batch, dim, N})};
  // [MAMBA-SCAN-BOUND-PROBABILISTIC] The rounding counts of the model (first order: k u per
  // rounding on a term's path, where G charges gamma_k >= k u) and the longest path.
  const double k_step = m.step_roundings;
  const double k_term = std::min<double>(m.term_roundings, leaves) + 2;  // + beta = (dt u) B's two
  const double k_init = std::min<double>(m.initial_roundings, leaves);
  const double k_max = k_step * static_cast<double>(L) + std::max(k_term, k_init) + static_cast<double>(N) + 3;
  const double lambda = probabilistic ? probabilistic->lambda : 0.0;
  if (probabilistic)
    probabilistic->bound = {Tensor<double>(Shape{batch, dim, L}), Tensor<double>(Shape{batch, dim, N})};
  // The probabilistic bound of an element with magnitude M, rigorous error E >= R1 and first-order
  // rounding part R1: E - R1 (outside the model, kept) plus the Higham-Mary bound of R1's part.
  // (R1 <= E holds piece by piece, up to the 2^-1074 floors of the magnitudes: where those make
  // R1 exceed E, the element keeps its rigorous bound.)
  auto probable = [&](double M, double E, double R1) {
    if (!(R1 <= E)) return E;
    return std::min(E, E - R1 + hm_sum_bound(M, R1, u, lambda, k_max));
  };
  // Every (batch, channel) is a scan of its own: one work item each, on all cores
  // ([CORE-THREADS]; each writes only its own outputs, so the bound does not depend on the
  // thread count).
  parallel_for(batch * dim, 0, [&](std::int64_t item) {
      const Index b = item / dim, d = item % dim;
      std::vector<double> H(static_cast<std::size_t>(N)), G(static_cast<std::size_t>(N));
      // R[n] <= G[n]: the first-order part of G[n] from the model's roundings, u sum_j |x_j| k_j
      // over the terms x_j of h[n] ([MAMBA-SCAN-BOUND-PROBABILISTIC]).
      std::vector<double> R(probabilistic ? static_cast<std::size_t>(N) : 0);
      bool overflow = false;  // once a state may overflow, every later bound is +inf
      double Wmax = 0;        // running max of H + G, for product underflow in tree orders
      // Tree orders: a bound on every product of a's within the current span (factors below 1
      // cannot raise it); the registry's property test found the CUDA order's chunk product
      // 257^16 = inf times a zero state, NaN under a finite bound.
      std::vector<double> span_product(static_cast<std::size_t>(N), 1.0);
      for (Index n = 0; n < N; ++n) {
        const double h0 = in.h0 ? std::fabs((*in.h0)(b, d, n)) : 0.0;
        H[n] = h0;
        G[n] = g_init * h0;
        if (probabilistic) R[n] = k_init * u * h0;
        Wmax = std::max(Wmax, H[n] + G[n]);
      }
      for (Index t = 0; t < L; ++t) {
        double x;
        const Q dt = delta_bound(in, b, d, t, m.softplus_ulps, u, eta, x);
        const double dt_value = in.delta_softplus ? dt.M : x;  // signed estimate of exact dt
        const double uu = in.u(b, d, t);
        const Q du = mul_exact(dt, uu, u, eta);
        if (dt.M + dt.E > fmax || du.M + du.E > fmax) overflow = true;

        // [MAMBA-SCAN-BOUND-OUTPUT] accumulators of y = sum_n h[n] C[n].
        double My = 0, Ey_states = 0, S = 0, F = 0, Ry = 0;
        for (Index n = 0; n < N; ++n) {
          const double A = in.A(d, n);
          // [MAMBA-SCAN-BOUND-DISCRETIZE] a = exp(dt A): argument error, then exp's own.
          Q arg = mul_exact(dt, A, u, eta);
          // Further roundings of the argument: RoundOps.v round_bound each.
          for (int k = 1; k < m.exp_arg_roundings; ++k) arg.E += u * (arg.M + arg.E) + eta;
          const double Ma = std::exp(dt_value * A) + kTiny;
          const double Ea1 = Ma * expm1_upper(arg.E);
          const double Ea = Ea1 + elementary_error(m.exp_ulps, Ma + Ea1, u, eta);
          const Q beta = mul_exact(du, p.B_at(b, d, n, t), u, eta);
          if (Ma + Ea > fmax || beta.M + beta.E > fmax) overflow = true;
          if (m.forms_products &&
              span_product_overflows(span_product[static_cast<std::size_t>(n)], (Ma + Ea) * (1 + 2 * u),
                                     m.product_span > 0 && t % m.product_span == 0, fmax))
            overflow = true;

          // [MAMBA-SCAN-BOUND-STATE] proved for the sequential fma model (q_step = 1 + u,
          // g_step = g_term = u, g_init = 0, under = eta): MambaScanBound.v state_bound_mag, each
          // step RoundOps.v fma_bound_result_mag with M = Ma H[n] + beta.M. The tree orders' k, c,
          // c0, m and W (cuda, any-order) are derived on paper (spec/mamba.md), not in Coq.
          const double under = underflows * eta * (m.forms_products ? 1 + Wmax : 1.0);
          const double Gn = q_step * (Ma + Ea) * G[n] + (g_step * Ma + q_step * Ea) * H[n] +
                            g_term * beta.M + (1 + g_term) * beta.E + under;
          const double Hn = Ma * H[n] + beta.M + kTiny;
          // Each piece is at most G's: Ma R <= q (Ma + Ea) G, k_step u Ma H <= g_step Ma H,
          // k_term u beta.M <= g_term beta.M + beta.E (beta.E >= 2 u beta.M: two rounded products).
          if (probabilistic) {
            R[n] = Ma * R[n] + k_step * u * Ma * H[n] + k_term * u * beta.M;
            Ry += R[n] * std::fabs(p.C_at(b, d, n, t));
          }
          H[n] = Hn;
          G[n] = Gn;
          if (Hn + Gn > fmax) overflow = true;

          const double c = std::fabs(p.C_at(b, d, n, t));
          My += Hn * c;
          Ey_states += Gn * c;
          S += (Hn + Gn) * c;
          // [MAMBA-SCAN-BOUND-DOT] proved: MambaScanBound.v dot_bound_mag (term bounds
          // (Hn + Gn) c >= |h^ C|).
          if (m.fused_dot) F = (1 + u) * F + u * S + eta;
        }
        for (Index n = 0; n < N; ++n) Wmax = std::max(Wmax, H[n] + G[n]);
        // Separate roundings in any order: on paper (spec/mamba.md [MAMBA-SCAN-BOUND-DOT]), not in
        // Coq.
        if (!m.fused_dot) F = g_dot * S + static_cast<double>(N) * eta * (1 + g_dot);
        Q v{My, F + Ey_states};
        // The dot's N roundings on every term's path (N u My <= g_dot S, S >= My).
        Ry += static_cast<double>(N) * u * My;
        // Every intermediate must stay in range, not only the output: y may overflow even when a
        // small silu(z) brings out back (found by the former fuzz/mamba_fuzz.cpp, now fuzz/registry_fuzz.cpp). Partial sums of y are
        // bounded by S, the products by (H + G)|C|.
        if (S + F > fmax) overflow = true;
        // [MAMBA-SCAN-BOUND-OUTPUT] skip term and gate.
        if (in.D) {
          const double Du = std::fabs((*in.D)[d] * uu);
          if (m.fused_skip) {
            // proved: RoundOps.v fma_bound_result_mag (D, u exact; M = M(y) + |D u|).
            v = {v.M + Du, v.E + u * (v.M + v.E + Du) + eta};
          } else {
            // proved: RoundOps.v mul_bound (exact operands), then add_bound_result_mag (no eta).
            const double Ep = u * Du + eta;
            Ry += u * Du + u * (v.M + Du);  // the product's and the sum's roundings
            v = {v.M + Du, v.E + Ep + u * (v.M + v.E + Du + Ep)};
          }
          if (Du > fmax || v.M + v.E > fmax) overflow = true;
        }
        if (in.z) {
          const double zz = (*in.z)(b, d, t);
          const double Ms = silu_magnitude(zz);
          v = mul(v, {Ms, elementary_error(m.silu_ulps, Ms, u, eta)}, u, eta);  // mul_bound
          Ry = Ms * Ry + u * v.M;  // the gate's rounding, on every term's path
        }
        if (v.M + v.E > fmax) overflow = true;
        r.out(b, d, t) = f.finish(v.M, v.E, overflow, slack);
        if (probabilistic) probabilistic->bound.out(b, d, t) = f.finish(v.M, probable(v.M, v.E, Ry), overflow, slack);
      }
      for (Index n = 0; n < N; ++n) {
        r.last_state(b, d, n) = f.finish(H[n], G[n], overflow, slack);
        if (probabilistic)
          probabilistic->bound.last_state(b, d, n) = f.finish(H[n], probable(H[n], G[n], R[n]), overflow, slack);
      }
  });
  return r;
}

}  // namespace touchstone::mamba
