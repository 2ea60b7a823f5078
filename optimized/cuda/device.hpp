// Whether this process can run touchstone's CUDA kernels (spec/core.md [CORE-BACKENDS]).
// Plain C++ header: included by host code built without nvcc.
#pragma once

#include <string>

#include "cuda/availability.hpp"

namespace touchstone::cuda {

// Empty when a CUDA device is present and usable; otherwise the reason, for skip messages and
// `touchstone list` ("built without CUDA", "no CUDA device: <driver message>"). The one source of
// that text: every CUDA entry point throws BackendUnavailable(unavailable_reason()) (defined in
// availability.hpp without CUDA, in device.cu with it).
using cuda_availability::unavailable_reason;

}  // namespace touchstone::cuda
