// A-priori error bounds of the convolution chapter's backends (spec/s4_conv.md
// [S4CONV-CONV-BOUND], [S4CONV-CONV-BOUND-DIRECT], [S4CONV-CONV-BOUND-ANY], [S4CONV-SCAN-BOUND]),
// per output element, evaluated at run time from the problem's values. +inf where an
// intermediate may overflow the compute format or where the element depends on a NaN or Inf input
// (its exact value is then NaN or infinite, which the verdict checks by itself).
#pragma once

#include "touchstone/core/formats.hpp"
#include "touchstone/reference/s4_conv_problem.hpp"

namespace touchstone::s4 {

// How a causal convolution backend computes: the FFT path of optimized/cpu/s4_conv.hpp in
// `compute` (FFTW under [S4CONV-ASSUME-FFTW], or cuFFT under [S4CONV-ASSUME-CUFFT]), falling back
// to the sequential direct sum on rows with non-finite inputs.
Tensor<double> causal_conv_bound(const ConvProblem<double>& p, Format compute);

// [S4CONV-CONV-BOUND-ANY] An implementation computing in `storage`'s usual format (float32 for
// storage float16/bfloat16/float32, else float64) and storing in `storage`: the direct sum in any
// association order, or an FFT convolution of any padded length n in [L + taps - 1, 4 (L + taps)]
// whose transforms satisfy the form of [S4CONV-FFT-BOUND] with k(n) — the larger of the two.
Tensor<double> causal_conv_any_order_bound(const ConvProblem<double>& p, Format storage);

// [S4CONV-SCAN-BOUND] The sequential order of optimized/cpu/s4_conv.hpp in `compute`.
ScanResult<double> ssm_scan_bound(const ScanProblem<double>& p, Format compute);
// [S4CONV-SCAN-BOUND-ANY] Any order of each step's and each output's operations (complex
// products by two products and an addition, or a product and an fma, per part; the sum over
// modes in any order), computed in `storage`'s usual format and stored in `storage`.
ScanResult<double> ssm_scan_any_order_bound(const ScanProblem<double>& p, Format storage);

}  // namespace touchstone::s4
