// Options of the S4 family's entries that may come from the command line or from the input file
// (spec/s4.md [S4-FILE-OPTIONS]).
#pragma once

#include <optional>
#include <string>

#include "touchstone/core/npy.hpp"
#include "touchstone/core/registry.hpp"
#include "touchstone/reference/s4_conj.hpp"

namespace touchstone::s4 {

// A 0-d integer array of the input file (what `touchstone generate` writes for an option, so that
// a generated file is the whole problem); nullopt when absent, InvalidInput(name) when not one
// integer value.
std::optional<Index> scalar_array(const NpyMap& arrays, const std::string& name);

// [S4-CONJ] from the file's `conj` (0: halves, 1: full) and the option `conj` (halves | full);
// given both ways they must agree (InvalidInput("conj") otherwise); default halves.
Conj conj_of(const NpyMap& arrays, const OptionMap& options);

// The file's `conj` array for a problem of convention c.
Tensor<double> conj_array(Conj c);

}  // namespace touchstone::s4
