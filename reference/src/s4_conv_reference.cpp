// The one translation unit that instantiates the convolution family's MPFR oracles (the exact
// DFT of dft.hpp; the causal convolution and the scan of s4_conv.hpp).
#include "touchstone/core/mp.hpp"
#include "touchstone/reference/dft.hpp"

namespace touchstone::s4::reference {

template ComplexVector<mp_real> dft_direct<mp_real>(const ComplexVector<mp_real>&, bool);
template ComplexVector<mp_real> dft_exact<mp_real>(const ComplexVector<mp_real>&, bool);

}  // namespace touchstone::s4::reference
