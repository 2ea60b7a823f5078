// A-priori per-element error bounds of DSS-softmax kernel implementations (spec/dss.md
// [DSS-SOFTMAX-BOUND-CPU], [DSS-SOFTMAX-BOUND-ANY]), by tracked complex arithmetic in moduli run
// in the implementation's order. DSS-exp's bounds are S4D's (s4d_bound.hpp).
#pragma once

#include "touchstone/reference/dss.hpp"
#include "touchstone/bounds/s4d_bound.hpp"

namespace touchstone::s4 {

// m.chunked: the CPU order of optimized/cpu/dss.hpp; otherwise the larger of that and the
// any-order model (every e_l as exp(fl(l zs)), S and the kernel's sum in any order).
Tensor<double> dss_softmax_kernel_bound(const DssSoftmaxProblem<double>& p, const S4DArithmetic& m);

}  // namespace touchstone::s4
