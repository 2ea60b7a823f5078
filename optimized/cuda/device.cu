// Whether this process can run touchstone's CUDA kernels (spec/core.md [CORE-BACKENDS]): the
// definition of touchstone::cuda::unavailable_reason() in a build with CUDA.
#include "cuda/device.hpp"

#include <cuda_runtime.h>

#include <string>

namespace touchstone::cuda_availability {

std::string unavailable_reason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    // The error is not sticky (no context exists yet); clear it so that it is not reported
    // later by an unrelated cudaGetLastError.
    (void)cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(e);
  }
  if (count < 1) return "no CUDA device found";
  return std::string();
}

}  // namespace touchstone::cuda_availability
