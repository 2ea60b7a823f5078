// Judging an answer in a family test the way `touchstone diff` does: the arrays as .npz entries
// would arrive, the entry's input checks and reader (Algorithm::from_arrays), then core's run_diff
// with the any-order bound, outputs stored in float32, elementary functions within 1 ulp, the
// oracle from 256 bits.
#pragma once

#include <string>

#include "builtin.hpp"
#include "touchstone/core/npy.hpp"
#include "touchstone/core/verdict.hpp"

namespace touchstone::test_support {

// An array as read from a file whose numbers take `item_bytes` bytes (4: a float32 file).
inline NpyArray npy(const Tensor<double>& t, int item_bytes = 8) {
  NpyArray a;
  a.item_bytes = item_bytes;
  a.values = t;
  return a;
}

inline DiffReport diff_report(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs) {
  DiffRequest q;
  q.elementary_ulps = 1.0;
  return run_diff(a, problem, theirs, q);
}
inline Verdict diff_verdict(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs) {
  return diff_report(a, problem, theirs).verdict;
}

// The report (verdict, SUSPECT flags) on `theirs` for the problem `inputs` (with `options`) of `entry`.
inline DiffReport diff_report(const std::string& entry, const Arrays& inputs, const Arrays& theirs,
                              const OptionMap& options = {}, int item_bytes = 8) {
  const Algorithm& a = builtin_registry().get(entry);
  NpyMap files;
  for (const auto& [name, t] : inputs) files[name] = npy(t, item_bytes);
  return diff_report(a, *a.from_arrays(files, options), theirs);
}
inline Verdict diff_verdict(const std::string& entry, const Arrays& inputs, const Arrays& theirs,
                            const OptionMap& options = {}, int item_bytes = 8) {
  return diff_report(entry, inputs, theirs, options, item_bytes).verdict;
}

}  // namespace touchstone::test_support
