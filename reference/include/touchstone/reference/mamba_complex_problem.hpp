// The complex selective scan problem (spec/mamba_complex.md [MAMBA-CSCAN-SHAPES],
// [MAMBA-CSCAN-LAYOUT-INTERLEAVED], [MAMBA-CSCAN-NONFINITE]): ScanProblem
// (mamba_scan_problem.hpp, which also says how complex arrays are stored) on the complex state,
// the peer's layouts it reads, and what the complex scan returns.
#pragma once

#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba_problem.hpp"
#include "touchstone/reference/mamba_scan_problem.hpp"

namespace touchstone::mamba {

template <class T>
using ComplexScanProblem = ScanProblem<T, ComplexState>;

// [MAMBA-CSCAN-LAYOUT-INTERLEAVED] The peer's variable B or C for complex A: a real tensor
// (batch, dstate, 2 seqlen) or (batch, groups, dstate, 2 seqlen) whose last axis interleaves
// (re, im) pairs, `view_as_complex(rearrange(X, "... (L two) -> ... L two", two=2))`. Returns
// the same values as (batch, groups, dstate, seqlen, 2), groups = 1 for the 3-d form.
template <class T>
Tensor<T> complex_from_interleaved(const Tensor<T>& X, const std::string& name) {
  if (X.rank() != 3 && X.rank() != 4)
    throw InvalidInput(name, "expected the interleaved layout (batch, dstate, 2 seqlen) or "
                             "(batch, groups, dstate, 2 seqlen), got shape " + X.shape().str());
  const Index last = X.extent(X.rank() - 1);
  if (last % 2 != 0 || last == 0)
    throw InvalidInput(name, "the interleaved layout holds (re, im) pairs along its last axis, "
                             "which must have even positive extent 2 seqlen, got shape " +
                                 X.shape().str());
  const Index batch = X.extent(0), groups = X.rank() == 4 ? X.extent(1) : 1,
              dstate = X.extent(X.rank() - 2);
  return X.reshaped(Shape{batch, groups, dstate, last / 2, 2}, name);
}

// A real array as a complex one with zero imaginary parts: shape S -> S + (2,).
template <class T>
Tensor<T> complex_from_real(const Tensor<T>& X) {
  std::vector<Index> shape = X.shape().extents();
  shape.push_back(2);
  Tensor<T> c{Shape(shape)};
  for (Index i = 0; i < X.count(); ++i) {
    c[2 * i] = X[i];
    c[2 * i + 1] = T(0);
  }
  return c;
}

// Outputs ([MAMBA-CSCAN-OUT-2RE]): out (batch, dim, seqlen) real, and last_state = h_{L-1},
// complex (batch, dim, dstate) as (batch, dim, dstate, 2).
template <class T>
struct ComplexScanResult {
  Tensor<T> out;
  Tensor<T> last_state;
};

}  // namespace touchstone::mamba
