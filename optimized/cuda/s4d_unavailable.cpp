// The S4D CUDA backend of a build without nvcc: it exists, says why it cannot run, and throws.
#include "cuda/device.cuh"
#include "cuda/s4d.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::s4::cuda {
Tensor<float> s4d_product(const cpu::S4DSetup<float>&) {
  throw BackendUnavailable(touchstone::cuda::unavailable_reason());
}
}  // namespace touchstone::s4::cuda
