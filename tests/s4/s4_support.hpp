// Shared helpers of the S4 tests: run a registry entry's backend on a problem and judge it
// against the oracle and the backend's bound.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "../tightness.hpp"
#include "builtin.hpp"
#include "touchstone/core/registry.hpp"

namespace touchstone::s4::testing {

// Judges every output of `backend` on `p`; returns the max error/bound ratio over outputs.
inline double judge_backend(const Algorithm& a, const BackendSpec& b, const ProblemHandle& p,
                            const ExactArrays& exact, const std::string& label) {
  const Arrays computed = b.run(p);
  const Arrays bound = b.bound(p);
  double worst = 0;
  for (const auto& j : judge(computed, exact, &bound, b.format)) {
    EXPECT_TRUE(j.summary.pass()) << a.name() << " " << b.name << " " << label << " output " << j.output
                                  << ": " << j.summary.outside << " failures, worst at " << j.summary.worst
                                  << " computed " << j.summary.worst_computed << " exact " << j.summary.worst_exact
                                  << " bound " << j.summary.worst_bound;
    worst = std::max(worst, j.summary.max_ratio);
  }
  std::printf("%s %s %s: max err/bound %.3g\n", a.name().c_str(), b.name.c_str(), label.c_str(), worst);
  return worst;
}

}  // namespace touchstone::s4::testing
