// Independent slices of a problem (spec/core.md [CORE-SLICES]).
//
// An entry may declare axes along which its problem falls apart: named dimensions ("batch",
// "dim") such that fixing one index on each gives a problem of its own whose outputs are exactly
// the full problem's outputs at that index (the scan's (batch, channel), a kernel's row, a head).
// Every output must carry every declared axis. The MPFR oracle then runs slice by slice, in
// parallel, each with its own precision doubling, and `diff`'s fast tier recomputes only the
// slices that hold an element the float64 enclosure could not settle ([CORE-DIFF-TIERS]).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "touchstone/core/registry.hpp"

namespace touchstone {

class ProblemSlicer {
 public:
  // One slice (the whole problem) when `a` declares no independent axes. std::logic_error when an
  // axis the entry declares is not an axis of some output (a defect of the entry).
  ProblemSlicer(const Algorithm& a, const ProblemHandle& p);
  Index count() const { return count_; }
  bool whole() const { return axes_.empty(); }
  const std::vector<std::string>& axes() const { return axes_; }
  // The problem of slice s (0 <= s < count()), built from the full problem's input arrays
  // restricted to the slice, through the entry's own input checks and reader.
  std::unique_ptr<ProblemHandle> slice(Index s) const;
  // For output `name` of the full problem with shape `shape`: the slice that holds flat element
  // i, and the flat index of that element in the slice's output.
  struct Place {
    Index slice, local;
  };
  Place locate(const std::string& output, const Shape& shape, Index i) const;
  // The flat index in the full output of element j of slice s's output.
  Index global_index(const std::string& output, const Shape& shape, Index s, Index j) const;

 private:
  std::vector<Index> coordinates(Index s) const;  // per axis
  const std::vector<int>& output_axes(const std::string& output, const Shape& shape) const;

  const Algorithm* a_;
  Arrays inputs_;
  std::vector<std::string> axes_;
  std::vector<Index> extents_;
  Index count_ = 1;
  std::map<std::string, std::vector<int>> input_axes_;   // per input: position of each axis or -1
  std::map<std::string, Index> dims_;                    // inferred from the inputs
  mutable std::map<std::string, std::vector<int>> output_axes_;  // per output: each axis's position
};

}  // namespace touchstone
