// The one switch between a build with CUDA and one without (spec/core.md [CORE-BACKENDS]).
// Plain C++ header: every family's host API header (optimized/cuda/<family>.hpp) includes it.
//
// TOUCHSTONE_HAVE_CUDA is 1 or 0 on every target that links touchstone_cuda (CMakeLists.txt); a
// translation unit that sees neither is a build error, never a silent stub.
//
// TOUCHSTONE_CUDA_ENTRY(<function declaration>) declares one host API function of a CUDA backend,
// e.g.
//   TOUCHSTONE_CUDA_ENTRY(Tensor<float> causal_conv(const ConvProblem<float>& p))
// With CUDA it is that declaration (the definition is in the family's .cu file, which throws
// BackendUnavailable itself when no device is present); without, an inline definition that throws
// BackendUnavailable(unavailable_reason()). So a new backend writes no stub: the declaration is
// the stub.
//
// The reason is touchstone::cuda::unavailable_reason() (cuda/device.hpp re-exports it from here).
// It lives in its own namespace so that including a family header does not add a second `cuda`
// namespace to code that writes `using namespace touchstone; ... cuda::`.
#pragma once

#include <string>

#include "touchstone/core/errors.hpp"

#if !defined(TOUCHSTONE_HAVE_CUDA)
#error "TOUCHSTONE_HAVE_CUDA is not defined: link touchstone_cuda, which defines it to 1 or 0"
#endif

namespace touchstone::cuda_availability {

// Empty when a CUDA device is present and usable; otherwise why not.
#if TOUCHSTONE_HAVE_CUDA
std::string unavailable_reason();  // device.cu: asks the driver
#else
inline std::string unavailable_reason() {
  return "built without CUDA (nvcc was not found at configure time)";
}
#endif

[[noreturn]] inline void throw_unavailable() { throw BackendUnavailable(unavailable_reason()); }

}  // namespace touchstone::cuda_availability

#if TOUCHSTONE_HAVE_CUDA
#define TOUCHSTONE_CUDA_ENTRY(...) __VA_ARGS__;
#else
#define TOUCHSTONE_CUDA_ENTRY(...)                                                    \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wunused-parameter\"") \
  [[noreturn]] inline __VA_ARGS__ { ::touchstone::cuda_availability::throw_unavailable(); } \
  _Pragma("GCC diagnostic pop")
#endif
