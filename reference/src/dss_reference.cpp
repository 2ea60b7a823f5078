// The one translation unit that instantiates the DSS-softmax oracle (MPFR/MPC templates compile
// slowly; every other user links these).
#include "touchstone/reference/dss.hpp"

namespace touchstone::s4 {

template Tensor<mp_real> dss_softmax_kernel<mp_real, mp_complex>(const DssSoftmaxProblem<double>&);
template Tensor<double> dss_softmax_kernel<double, std::complex<double>>(const DssSoftmaxProblem<double>&);

}  // namespace touchstone::s4
