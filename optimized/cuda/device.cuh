// Whether this process can run touchstone's CUDA kernels (spec/core.md [CORE-BACKENDS]).
// Plain C++ header: included by host code built without nvcc.
#pragma once

#include <string>

namespace touchstone::cuda {

// Empty when a CUDA device is present and usable; otherwise the reason, for skip messages and
// `touchstone list` ("built without CUDA", "no CUDA device: <driver message>").
std::string unavailable_reason();

}  // namespace touchstone::cuda
