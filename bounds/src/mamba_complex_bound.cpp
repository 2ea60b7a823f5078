// Evaluation of the complex selective scan error bounds; every formula is derived in
// spec/mamba_complex.md under the ID cited next to it.
//
// Notation: for a real quantity q, M(q) >= |q_exact| and E(q) >= |q_computed - q_exact|; for a
// complex one the same with moduli. u and eta are the compute format's unit roundoff and
// underflow term. A complex number rounded part by part, each part within u relative (plus eta),
// is within u relative in modulus (plus sqrt(2) eta); a complex product whose parts are sums of
// two products is where sqrt(2) enters: (|x.re||y.re| + |x.im||y.im|, |x.im||y.re| + |x.re||y.im|)
// has modulus at most sqrt(2) |x||y|. Every expression adds non-negative terms, evaluated in
// double, and the final factor (1 + slack) covers that evaluation ([MAMBA-SCAN-BOUND-EVAL]).
#include "touchstone/bounds/mamba_complex_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/core/tracked.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

namespace touchstone::mamba {

ComplexScanArithmetic complex_arithmetic_cpu_f32() {
  ComplexScanArithmetic m;
  m.name = "cpu-f32";
  m.compute = m.storage = format_info(Format::float32);
  m.exp_ulps = kExpF32Ulps;
  m.sincos_ulps = kSinCosF32Ulps;
  m.softplus_ulps = kSoftplusF32Ulps;
  m.silu_ulps = kSiluF32Ulps;
  return m;
}

ComplexScanArithmetic complex_arithmetic_cpu_f64() {
  ComplexScanArithmetic m;
  m.name = "cpu-f64";
  m.compute = m.storage = format_info(Format::float64);
  m.exp_ulps = kExpF64Ulps;
  m.sincos_ulps = kSinCosF64Ulps;
  m.softplus_ulps = kSoftplusF64Ulps;
  m.silu_ulps = kSiluF64Ulps;
  return m;
}

ComplexScanArithmetic complex_arithmetic_any_order(Format storage, double elementary_ulps) {
  ComplexScanArithmetic m;
  m.name = "any-order";
  m.storage = format_info(storage);
  m.compute = format_info(storage == Format::float64 ? Format::float64 : Format::float32);
  m.sequential = false;
  m.exp_arg_roundings = 3;
  m.exp_ulps = m.sincos_ulps = m.softplus_ulps = m.silu_ulps = elementary_ulps;
  m.fused_output = false;
  return m;
}

ComplexScanArithmetic complex_arithmetic_reference(unsigned bits) {
  ComplexScanArithmetic m;
  m.name = "reference";
  m.compute = m.storage = mpfr_format_info(bits);
  // MPC's exp is correctly rounded per part, which the split into exp, cos and sin within half
  // an ulp each, plus the two rounded products, dominates; softplus and silu as in
  // arithmetic_reference. A_bar h + bu: a product and a sum, each correctly rounded per part
  // (within the sequential model's two roundings). 2 Re(y) + D u: a rounded product and sum.
  m.exp_ulps = m.sincos_ulps = 0.5;
  m.softplus_ulps = 1.01;
  m.silu_ulps = 2.01;
  m.fused_output = false;
  return m;
}

namespace {

using namespace scan_bound;

constexpr double kSqrt2 = 1.4142135623730951;  // the double above sqrt(2) (by 9.7e-17)

// [CORE-ROUND-MUL] with an exact second operand y (real): fl(x y).
Q mul_exact(Q x, double y, double u, double eta) {
  const double ay = std::fabs(y);
  return {x.M * ay + kTiny, x.E * ay + u * (x.M + x.E) * ay + eta};
}

}  // namespace

ComplexScanResult<double> selective_scan_complex_bound(const ComplexScanProblem<double>& p,
                                                       const ComplexScanArithmetic& m) {
  const auto& in = p.in();
  const Formats f(m.compute, m.storage);
  const double u = f.u, eta = f.eta, fmax = f.fmax;
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  const double slack =
      std::max(std::ldexp(1.0, -20), static_cast<double>(L + 2 * N) * std::ldexp(1.0, -40));

  // [MAMBA-CSCAN-BOUND-STATE] Per step: G' = q_s (Ma + Ea) G + ((q_s - 1) Ma + q_s Ea) H
  //                                          + (q_c - 1) Mb + q_c Eb + under.
  const double g2 = gamma_k(u, 2), g3 = gamma_k(u, 3);
  double g_step, q_step, g_term, under;
  if (m.sequential) {
    // Two fmas per part: q_s = 1 + sqrt(2) gamma_2, q_c = 1 + gamma_2; per part two underflow
    // errors (the second's scaled by 1 + u): sqrt(2)(2 + u) eta <= 3 eta in modulus.
    g_step = kSqrt2 * g2;
    g_term = g2;
    under = 3 * eta;
  } else {
    // Two complex multiplications per step spanned, (1 + sqrt(2) gamma_3)^2; at most L + 1
    // additions of two roundings each, (1 + gamma_2)^(L+1); underflow: at most 3 roundings per
    // part in each of at most 2 (L + 1) operations that end at one step.
    g_step = std::expm1(2 * std::log1p(kSqrt2 * g3));
    g_term = gamma_k(u, 2 * (static_cast<double>(L) + 1));
    under = 6 * kSqrt2 * (static_cast<double>(L) + 1) * eta;
  }
  q_step = 1 + g_step;
  // [MAMBA-CSCAN-BOUND-OUTPUT] any order: each of the 2N products and D u passes through at
  // most 2N + 2 roundings.
  const double g_sum = gamma_k(u, 2 * static_cast<double>(N) + 2);

  ComplexScanResult<double> r{Tensor<double>(Shape{batch, dim, L}),
                              Tensor<double>(Shape{batch, dim, N, 2})};
  std::vector<double> H(static_cast<std::size_t>(N)), G(static_cast<std::size_t>(N));
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim; ++d) {
      bool overflow = false;
      double Wmax = 0;  // running max of H + G: tree orders multiply underflows by partial states
      // Any order may multiply A_bar's together over any span: a bound on every such product's
      // modulus (factors below 1 cannot raise it); inf times a zero state would be NaN.
      std::vector<double> span_product(static_cast<std::size_t>(N), 1.0);
      std::fill(H.begin(), H.end(), 0.0);
      std::fill(G.begin(), G.end(), 0.0);
      for (Index t = 0; t < L; ++t) {
        // [MAMBA-SCAN-BOUND-DELTA], exactly as for the real scan.
        double x;
        const Q dt = delta_bound(in, b, d, t, m.softplus_ulps, u, eta, x);
        const double dt_value = in.delta_softplus ? dt.M : x;
        const double uu = in.u(b, d, t);
        const Q du = mul_exact(dt, uu, u, eta);
        if (dt.M + dt.E > fmax || du.M + du.E > fmax) overflow = true;

        double My = 0, Ey_states = 0, S = 0, F = 0;
        for (Index n = 0; n < N; ++n) {
          const double Ar = p.A_at(d, n, 0), Ai = p.A_at(d, n, 1);
          // [MAMBA-CSCAN-BOUND-DISCRETIZE] A_bar = e^(dt Re A) (cos(dt Im A) + i sin(dt Im A)).
          Q arg_re = mul_exact(dt, Ar, u, eta), arg_im = mul_exact(dt, Ai, u, eta);
          for (int k = 1; k < m.exp_arg_roundings; ++k) {
            arg_re.E += u * (arg_re.M + arg_re.E) + eta;
            arg_im.E += u * (arg_im.M + arg_im.E) + eta;
          }
          // An argument that may overflow the compute format leaves the bound's domain: cos and
          // sin of an infinite argument are NaN (registry_fuzz found dt Im A = -2 * -1.76e38, NaN
          // in the state under a finite bound; corpus file regression_mamba_complex_imag_arg_overflow).
          if (arg_re.M + arg_re.E > fmax || arg_im.M + arg_im.E > fmax) overflow = true;
          const double Mm = std::exp(dt_value * Ar) + kTiny;
          const double Em1 = Mm * std::expm1(arg_re.E);
          const double Em = Em1 + elementary_error(m.exp_ulps, Mm + Em1, u, eta);
          // |(c^ + i s^) - e^(i x)| <= |x^ - x| (e^(i.) is 1-Lipschitz), at most 2, plus the two
          // functions' own errors, within ulps (2u |part| + 2 eta) each: modulus
          // <= ulps (2u + 2 sqrt(2) eta) since cos^2 + sin^2 = 1. (arg_im.E first: NaN stays.)
          const double Ecs = std::min(arg_im.E, 2.0) + m.sincos_ulps * (2 * u + 2 * kSqrt2 * eta);
          const double Ma = Mm;
          const double Ea = Em * (1 + Ecs) + Mm * Ecs + u * (Mm + Em) * (1 + Ecs) + kSqrt2 * eta;
          // B_bar u = (du Re B, du Im B): one rounding per part.
          const double absB = std::hypot(p.B_at(b, d, n, t, 0), p.B_at(b, d, n, t, 1));
          const Q beta{du.M * absB + kTiny, du.E * absB + u * (du.M + du.E) * absB + kSqrt2 * eta};
          if (Ma + Ea > fmax || beta.M + beta.E > fmax) overflow = true;
          if (!m.sequential &&
              span_product_overflows(span_product[static_cast<std::size_t>(n)], (Ma + Ea) * (1 + 4 * u), false, fmax))
            overflow = true;

          // [MAMBA-CSCAN-BOUND-STATE]
          const double under_n = m.sequential ? under : under * (1 + Wmax);
          const double Gn = q_step * (Ma + Ea) * G[n] + (g_step * Ma + q_step * Ea) * H[n] +
                            g_term * beta.M + (1 + g_term) * beta.E + under_n;
          const double Hn = Ma * H[n] + beta.M + kTiny;
          H[n] = Hn;
          G[n] = Gn;
          if (Hn + Gn > fmax) overflow = true;

          // [MAMBA-CSCAN-BOUND-OUTPUT] y = sum_n Re(h_n C_n) = sum_n h.re C.re - h.im C.im.
          const double cr = std::fabs(p.C_at(b, d, n, t, 0)), ci = std::fabs(p.C_at(b, d, n, t, 1));
          const double absC = std::hypot(cr, ci);
          My += Hn * absC;
          Ey_states += Gn * absC;
          if (m.fused_output) {
            // two fmas, the real part's product then the imaginary part's.
            S += (Hn + Gn) * cr;
            F = (1 + u) * F + u * S + eta;
            S += (Hn + Gn) * ci;
            F = (1 + u) * F + u * S + eta;
          } else {
            S += (Hn + Gn) * (cr + ci);
          }
        }
        for (Index n = 0; n < N; ++n) Wmax = std::max(Wmax, H[n] + G[n]);
        // v = 2 y (exact) + D u.
        const double Du = in.D ? std::fabs((*in.D)[d] * uu) : 0.0;
        Q v;
        if (m.fused_output) {
          v = {2 * My, 2 * (F + Ey_states)};
          if (in.D) v = {v.M + Du, v.E + u * (v.M + v.E + Du) + eta};
          if (2 * (S + F) > fmax) overflow = true;
        } else {
          // Any order of the 2N products (each doubled, exactly) and D u, separate roundings.
          const double terms = 2 * S + Du;
          v = {2 * My + Du, 2 * Ey_states + g_sum * terms +
                                (4 * static_cast<double>(N) + 4) * eta * (1 + g_sum)};
          if (terms * (1 + g_sum) > fmax) overflow = true;
        }
        if (Du > fmax || v.M + v.E > fmax) overflow = true;
        if (in.z) {
          // [MAMBA-SCAN-BOUND-OUTPUT] the gate: [CORE-ROUND-MUL] with silu's error.
          const double zz = (*in.z)(b, d, t);
          const double Ms = silu_magnitude(zz);
          const double Es = elementary_error(m.silu_ulps, Ms, u, eta);
          v = mul(v, {Ms, Es}, u, eta);
        }
        if (v.M + v.E > fmax) overflow = true;
        r.out(b, d, t) = f.finish(v.M, v.E, overflow, slack);
      }
      for (Index n = 0; n < N; ++n) {
        const double bound = f.finish(H[n], G[n], overflow, slack);
        r.last_state(b, d, n, Index{0}) = bound;
        r.last_state(b, d, n, Index{1}) = bound;
      }
    }
  }
  return r;
}

}  // namespace touchstone::mamba
