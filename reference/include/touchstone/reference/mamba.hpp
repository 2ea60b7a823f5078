// The selective scan oracle (spec/mamba.md [MAMBA-SCAN-DEF]): the sequential recurrence, written
// as the spec writes it, at whatever precision the scalar type carries.
//
// Instantiated (reference/src/mamba_reference.cpp, the only translation unit that does) with
//   mp_real      MPFR at the working precision: the oracle;
//   mp_interval  MPFI: a certified enclosure of the exact result, which must contain the oracle;
//   double       the naive same-precision computation, to show what it gets.
// Inputs are read from a SelectiveScanProblem<double>; every float or double converts to these
// types exactly, so the oracle answers "the exact result for exactly these inputs".
#pragma once

#include <cmath>
#include <vector>

#include "touchstone/core/mp.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::reference {

// [MAMBA-SCAN-SOFTPLUS] softplus with PyTorch's threshold: x above 20, else log(1 + e^x).
// embed-begin softplus
template <class Real>
Real softplus_thresholded(const Real& x) {
  using std::exp, std::log1p;
  if (x > Real(20)) return x;
  return log1p(exp(x));
}
// embed-end softplus

// For an interval the branch is decided only when the interval lies on one side of 20; when it
// straddles, the hull of both branches encloses the value whichever branch the exact point takes.
inline mp_interval softplus_thresholded(const mp_interval& x) {
  if (lower(x) > 20) return x;
  if (upper(x) <= 20) return log1p(exp(x));
  return hull(x, mp_interval(log1p(exp(x))));
}

// [MAMBA-SCAN-GATE] silu(z) = z * sigmoid(z) = z / (1 + e^-z).
template <class Real>
Real silu(const Real& z) {
  using std::exp;
  return z / (Real(1) + exp(-z));
}

// [MAMBA-SCAN-DEF] out[b,d,t] and last_state[b,d,n] of the selective scan.
// embed-begin selective_scan
template <class Real>
SelectiveScanResult<Real> selective_scan(const SelectiveScanProblem<double>& p) {
  using std::exp;
  const auto& in = p.in();
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<Real> r{Tensor<Real>(Shape{batch, dim, L}),
                              Tensor<Real>(Shape{batch, dim, N})};
  std::vector<Real> h(static_cast<std::size_t>(N));
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim; ++d) {
      // [MAMBA-SCAN-INIT] h_{-1} = h0[b,d,:], or zero.
      for (Index n = 0; n < N; ++n) h[n] = in.h0 ? Real((*in.h0)(b, d, n)) : Real(0);
      for (Index t = 0; t < L; ++t) {
        // [MAMBA-SCAN-DELTA] dt = softplus(delta + delta_bias), each part optional.
        Real dt = Real(in.delta(b, d, t));
        if (in.delta_bias) dt = dt + Real((*in.delta_bias)[d]);
        if (in.delta_softplus) dt = softplus_thresholded(dt);
        const Real u = Real(in.u(b, d, t));
        Real y = 0;
        for (Index n = 0; n < N; ++n) {
          // [MAMBA-SCAN-DISCRETIZE] A_bar = exp(dt A) (zero-order hold), B_bar u = dt B u (Euler),
          // formed as (dt u) B like the backends, so one bound model covers the oracle's own
          // rounding too ([MAMBA-SCAN-BOUND-ORACLE]).
          const Real A_bar = exp(dt * Real(in.A(d, n)));
          const Real B_bar_u = dt * u * Real(p.B_at(b, d, n, t));
          // [MAMBA-SCAN-REC] h_t = A_bar h_{t-1} + B_bar u_t.
          h[n] = A_bar * h[n] + B_bar_u;
          // [MAMBA-SCAN-OUT] y_t = sum_n h_t[n] C_t[n].
          y = y + h[n] * Real(p.C_at(b, d, n, t));
        }
        // [MAMBA-SCAN-SKIP] + D u, then [MAMBA-SCAN-GATE] * silu(z).
        if (in.D) y = y + Real((*in.D)[d]) * u;
        if (in.z) y = y * silu(Real((*in.z)(b, d, t)));
        r.out(b, d, t) = y;
      }
      // [MAMBA-SCAN-LAST] last_state = h_{L-1}.
      for (Index n = 0; n < N; ++n) r.last_state(b, d, n) = h[n];
    }
  }
  return r;
}
// embed-end selective_scan

extern template SelectiveScanResult<mp_real> selective_scan<mp_real>(
    const SelectiveScanProblem<double>&);
extern template SelectiveScanResult<mp_interval> selective_scan<mp_interval>(
    const SelectiveScanProblem<double>&);
extern template SelectiveScanResult<double> selective_scan<double>(
    const SelectiveScanProblem<double>&);

}  // namespace touchstone::mamba::reference
