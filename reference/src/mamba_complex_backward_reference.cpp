// The one translation unit that instantiates the complex selective scan's derivative oracles:
// the adjoint equations in MPC (selective_scan_complex_vjp) and the forward definition on real
// (re, im) pairs in Boost's forward-mode autodiff over MPFR (selective_scan_complex_pairs<Jet>,
// behind selective_scan_complex_jvp).
#include "touchstone/reference/mamba_complex_backward.hpp"
#include "touchstone/reference/jet.hpp"

namespace touchstone::mamba::reference {

// Boost 1.74's autodiff cos and sin go through the same conversion as its exp (which does not
// compile for an MPFR number, mamba.hpp): the jets from value and slope instead.
Jet cos(const Jet& x) {
  const mp_real x0 = x.derivative(0);
  const mp_real value = cos(x0), slope = -sin(x0);
  return jets::from_value_and_slope(x, value, slope);
}
Jet sin(const Jet& x) {
  const mp_real x0 = x.derivative(0);
  const mp_real value = sin(x0), slope = cos(x0);
  return jets::from_value_and_slope(x, value, slope);
}

template ComplexScanGrads<mp_real> selective_scan_complex_vjp<mp_real, mp_complex>(
    const ComplexScanBackwardProblem<double>&);
template ComplexScanGrads<double> selective_scan_complex_vjp<double, std::complex<double>>(
    const ComplexScanBackwardProblem<double>&);
template ComplexScanResult<Jet> selective_scan_complex_pairs<Jet>(const ComplexScanInputs<Jet>&);
template ComplexScanResult<mp_real> selective_scan_complex_pairs<mp_real>(
    const ComplexScanInputs<mp_real>&);

namespace {

Tensor<mp_real> exact(const Tensor<double>& t) { return t.cast<mp_real>(); }
std::optional<Tensor<mp_real>> exact(const std::optional<Tensor<double>>& t) {
  if (!t) return std::nullopt;
  return t->cast<mp_real>();
}

}  // namespace

ComplexScanInputs<mp_real> exact_complex_inputs(const ComplexScanProblem<double>& p) {
  const auto& in = p.in();
  return {exact(in.u), exact(in.delta), exact(in.A), exact(in.B), exact(in.C),
          exact(in.D), exact(in.z), exact(in.delta_bias), in.delta_softplus};
}

ComplexScanResult<mp_real> selective_scan_complex_jvp(const ComplexScanProblem<double>& p,
                                                      const ComplexScanInputs<double>& tangent) {
  const ComplexScanResult<Jet> r =
      selective_scan_complex_pairs(jets::lift_inputs<ComplexState>(p.in(), tangent));
  return {jets::derivative_of(r.out), jets::derivative_of(r.last_state)};
}

mp_real inner_product(const ComplexScanGrads<double>& g, const ComplexScanInputs<double>& v) {
  return jets::grads_dot(g, v);
}
mp_real inner_product(const ComplexScanGrads<mp_real>& g, const ComplexScanInputs<double>& v) {
  return jets::grads_dot(g, v);
}

mp_real inner_product(const ComplexScanBackwardProblem<double>& w,
                      const ComplexScanResult<mp_real>& jv) {
  return jets::cotangent_dot(w, jv);
}

}  // namespace touchstone::mamba::reference
