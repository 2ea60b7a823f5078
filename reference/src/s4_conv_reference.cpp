// The one translation unit that instantiates the convolution family's MPFR oracles (the exact
// DFT of dft.hpp; the causal convolution and the scan of s4_conv.hpp).
#include "touchstone/core/mp.hpp"
#include "touchstone/reference/dft.hpp"

namespace touchstone::s4::reference {

template ComplexVector<mp_real> dft_direct<mp_real>(const ComplexVector<mp_real>&, bool);
template ComplexVector<mp_real> dft_exact<mp_real>(const ComplexVector<mp_real>&, bool);

}  // namespace touchstone::s4::reference

#include "touchstone/reference/s4_conv.hpp"

namespace touchstone::s4::reference {

template Tensor<mp_real> causal_conv<mp_real>(const Tensor<mp_real>&, const Tensor<mp_real>&,
                                              const std::optional<Tensor<mp_real>>&);
template Tensor<mp_real> causal_conv<mp_real>(const ConvProblem<double>&);
template ScanResult<mp_real> ssm_scan<mp_real>(const ScanProblem<double>&);
template ScanResult<mp_real> ssm_scan<mp_real>(const Tensor<mp_real>&, const Tensor<mp_real>&,
                                               const Tensor<mp_real>&, const Tensor<mp_real>&,
                                               const std::optional<Tensor<mp_real>>&, Conj);
template Tensor<mp_real> scan_kernel<mp_real>(const ScanProblem<double>&, Index);

}  // namespace touchstone::s4::reference
