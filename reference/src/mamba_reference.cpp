// The one translation unit that instantiates the selective scan oracle (MPFR templates compile
// slowly; every other user links these).
#include "touchstone/reference/mamba.hpp"

namespace touchstone::mamba::reference {

template SelectiveScanResult<mp_real> selective_scan<mp_real>(const SelectiveScanProblem<double>&);
template SelectiveScanResult<mp_interval> selective_scan<mp_interval>(
    const SelectiveScanProblem<double>&);
template SelectiveScanResult<double> selective_scan<double>(const SelectiveScanProblem<double>&);

}  // namespace touchstone::mamba::reference
