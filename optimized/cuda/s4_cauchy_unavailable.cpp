// The CUDA Cauchy kernels of a build without nvcc: they say why they cannot run, and throw.
#include "cuda/s4_cauchy.cuh"

#include "touchstone/core/errors.hpp"

namespace touchstone::s4::cuda {
std::string cauchy_unavailable_reason() { return "built without CUDA (nvcc was not found at configure time)"; }
std::vector<float> cauchy(const CauchyProblem&) { throw BackendUnavailable(cauchy_unavailable_reason()); }
std::vector<float> cauchy_backward(const CauchyProblem&, const std::vector<cdouble>&) {
  throw BackendUnavailable(cauchy_unavailable_reason());
}
}  // namespace touchstone::s4::cuda
