// The conjugate-pair convention of the S4 family (spec/s4.md [S4-CONJ]): one enum, one parser and
// one name for every entry (the DPLR kernel and Cauchy sums, S4D/DSS kernels, the scan).
#pragma once

#include <string>

namespace touchstone::s4 {

// [S4-CONJ] `halves` stores one mode per conjugate pair and each stored mode stands for itself and
// its conjugate (state-spaces/s4: kernels and outputs are 2 Re of the sum over stored modes);
// `full` stores every mode (annotated-s4: Re of the sum).
enum class Conj { halves, full };
Conj parse_conj(const std::string& s);  // InvalidInput("conj") unless "halves" or "full"
const char* conj_name(Conj c);

}  // namespace touchstone::s4
