// CPU backends of the convolution chapter (spec/s4_conv.md), float and double.
//
// causal_conv [S4CONV-CONV-FFT]: per channel the kernel's taps zero-padded to n (a power of two
// >= L + taps - 1) and transformed once (fft.hpp, complex, forward); per row (b, h), threads over
// rows: u zero-padded to n and transformed, the pointwise products by the textbook formula
// (re = a c - b d, im = a d + b c, separate roundings), the inverse transform, the real part times
// 1/n (exact but for underflow), then fl(y + fl(D u_t)). A row any of whose inputs (u[b,h,:],
// the taps k[h,:taps], D[h]) is NaN or Inf is computed by the direct sum instead
// ([S4CONV-CONV-NONFINITE]): acc = fl(acc + fl(k_s u_{t-s})) for s = 0, 1, ..., then + fl(D u_t).
//
// ssm_scan [S4CONV-SCAN-CPU]: per row (b, h) (threads over rows), per step t, per mode n in order:
// x = fl(fl(fl(ar xr) - fl(ai xi)) + fl(br u)) and likewise the imaginary part
// (fl(fl(fl(ar xi) + fl(ai xr)) + fl(bi u))), then acc = fl(acc + fl(fl(cr xr) - fl(ci xi))) over n
// (acc starting at the first term), y = c acc (c = 2 exact, or 1), then fl(y + fl(D u_t)).
#pragma once

#include "touchstone/reference/s4_conv_problem.hpp"

namespace touchstone::s4::cpu {

Tensor<float> causal_conv(const ConvProblem<float>& p);
Tensor<double> causal_conv(const ConvProblem<double>& p);

ScanResult<float> ssm_scan(const ScanProblem<float>& p);
ScanResult<double> ssm_scan(const ScanProblem<double>& p);

}  // namespace touchstone::s4::cpu
