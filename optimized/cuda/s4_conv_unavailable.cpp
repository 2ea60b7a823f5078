// The cuda-f32 causal convolution of a build without nvcc: it says why it cannot run.
#include "cuda/device.cuh"
#include "cuda/s4_conv.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::s4::cuda {
Tensor<float> causal_conv(const ConvProblem<float>&) {
  throw BackendUnavailable(touchstone::cuda::unavailable_reason());
}
}  // namespace touchstone::s4::cuda
