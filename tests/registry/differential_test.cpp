// Registry-driven differential tests: every algorithm, every default size, every backend that
// runs here, against the oracle and the backend's bound; the same loop as `touchstone check`.
// covers: MAMBA-SCAN-DEFAULTS CORE-BACKENDS
#include <gtest/gtest.h>

#include "../tightness.hpp"
#include "registry_cases.hpp"

using namespace touchstone;

namespace {
using testing_registry::Case;
using testing_registry::case_name;
class Differential : public testing::TestWithParam<Case> {};

// covers: CORE-TIGHTNESS-FLOOR
using touchstone::kVacuousRatio;
}  // namespace

TEST_P(Differential, EveryBackendWithinItsBound) {
  const Algorithm& a = *GetParam().algorithm;
  for (Format f : {Format::float32, Format::float64}) {
    bool any = false;
    for (const auto& b : a.backends()) any = any || b.format == f;
    if (!any) continue;
    for (std::uint64_t seed : {0u, 1u}) {
      const auto problem = a.generate(GetParam().size, f, seed);
      const ExactArrays exact = a.reference(*problem, 256);
      for (const auto& b : a.backends()) {
        if (b.format != f) continue;
        if (!b.unavailable_reason().empty()) continue;  // the cuda label's test says why
        const Arrays out = b.run(*problem), bounds = b.bound(*problem);
        for (const auto& j : judge(out, exact, &bounds, f)) {
          EXPECT_TRUE(j.summary.pass())
              << a.name() << " " << b.name << " " << GetParam().size << " seed " << seed << " "
              << j.output << ": " << j.summary.outside << " failures, max err/bound "
              << j.summary.max_ratio;
          EXPECT_EQ(j.summary.unjudged, 0) << "default problems stay inside the bound's domain";
          // An output the backend got exactly (every error 0, as dA of a one-step scan from a
          // zero state, where every term is 0) shows no tightness either way.
          if (j.summary.max_ratio == 0 && j.summary.outside == 0) continue;
          EXPECT_GT(j.summary.max_ratio, kVacuousRatio) << b.name << " " << j.output << " bound is vacuous";
        }
      }
    }
  }
}

TEST_P(Differential, AnyOrderBoundDominatesEveryBackendBound) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 3);
  const Arrays any = a.any_order_bound(*problem, Format::float32, 1.0);
  for (const auto& b : a.backends()) {
    if (b.format != Format::float32) continue;
    const Arrays mine = b.bound(*problem);
    for (const auto& [name, t] : mine)
      for (Index i = 0; i < t.count(); ++i) ASSERT_LE(t[i], any.at(name)[i]) << b.name << " " << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, Differential, testing::ValuesIn(testing_registry::all_cases()), case_name);

// covers: CORE-REGISTRY-BOUNDS
// Every backend returns every declared output and a bound for each; the any-order bound covers
// every output: a missing key is a test failure here, never a silent pass in `check` or `diff`.
TEST_P(Differential, EveryBackendAndTheAnyOrderBoundCoverEveryOutput) {
  const Algorithm& a = *GetParam().algorithm;
  const auto problem = a.generate(GetParam().size, Format::float32, 0);
  const ExactArrays exact = a.reference(*problem, 128);
  EXPECT_NO_THROW(check_entry_outputs(a, *problem, exact));
}
