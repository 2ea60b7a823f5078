// The one translation unit that instantiates the selective scan's derivative oracles: the
// reverse-mode equations (selective_scan_vjp) and the forward oracle on Boost's forward-mode
// autodiff over MPFR (selective_scan<Jet>, behind selective_scan_jvp).
#include "touchstone/reference/mamba_backward.hpp"
#include "touchstone/reference/jet.hpp"

namespace touchstone::mamba::reference {

Jet exp(const Jet& x) {
  const mp_real e = exp(x.derivative(0));
  return jets::from_value_and_slope(x, e, e);
}

// log1p(e^x) with slope sigmoid(x), both at the working precision; x itself above 20.
Jet softplus_thresholded(const Jet& x) {
  if (x > mp_real(20)) return x;
  const mp_real x0 = x.derivative(0);
  const mp_real e = exp(x0);
  const mp_real value = log1p(e), slope = e / (1 + e);
  return jets::from_value_and_slope(x, value, slope);
}

template SelectiveScanResult<Jet> selective_scan<Jet>(const SelectiveScanInputs<Jet>&);
template SelectiveScanGrads<mp_real> selective_scan_vjp<mp_real>(
    const SelectiveScanInputs<mp_real>&, const Tensor<mp_real>&,
    const std::optional<Tensor<mp_real>>&);
template SelectiveScanGrads<double> selective_scan_vjp<double>(
    const SelectiveScanInputs<double>&, const Tensor<double>&, const std::optional<Tensor<double>>&);

SelectiveScanResult<mp_real> selective_scan_jvp(const SelectiveScanProblem<double>& p,
                                                const SelectiveScanInputs<double>& tangent) {
  const SelectiveScanResult<Jet> r = selective_scan(jets::lift_inputs<RealState>(p.in(), tangent));
  return {jets::derivative_of(r.out), jets::derivative_of(r.last_state)};
}

mp_real inner_product(const SelectiveScanGrads<double>& g, const SelectiveScanInputs<double>& v) {
  return jets::grads_dot(g, v);
}
mp_real inner_product(const SelectiveScanGrads<mp_real>& g, const SelectiveScanInputs<double>& v) {
  return jets::grads_dot(g, v);
}

mp_real inner_product(const SelectiveScanBackwardProblem<double>& w,
                      const SelectiveScanResult<mp_real>& jv) {
  return jets::cotangent_dot(w, jv);
}

}  // namespace touchstone::mamba::reference
