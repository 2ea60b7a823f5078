// covers: CORE-REGISTRY
#include <gtest/gtest.h>

#include "builtin.hpp"
#include "touchstone/core/errors.hpp"

using namespace touchstone;

TEST(Registry, FindsAlgorithmsByDottedName) {
  const Registry& r = builtin_registry();
  const Algorithm& a = r.get("mamba.selective_scan");
  EXPECT_EQ(a.name(), "mamba.selective_scan");
  std::vector<std::string> names;
  for (const auto& b : a.backends()) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cpu-f32", "cpu-f64", "cuda-f32"}));
  EXPECT_EQ(r.backend(a, "cpu-f64").format, Format::float64);
}

TEST(Registry, UnknownNamesAreInvalidInputListingTheKnownOnes) {
  const Registry& r = builtin_registry();
  try {
    r.get("mamba.selective_scna");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "algorithm");
    EXPECT_NE(std::string(e.what()).find("mamba.selective_scan"), std::string::npos);
  }
  EXPECT_THROW(r.backend(r.get("mamba.selective_scan"), "gpu"), InvalidInput);
}

TEST(Registry, JudgeRejectsOutputsTheAlgorithmDoesNotHave) {
  const WorkingPrecision p(128);
  ExactArrays exact{{"out", Tensor<mp_real>(Shape{1})}};
  Arrays computed{{"outt", Tensor<double>(Shape{1})}};
  try {
    judge(computed, exact, nullptr, Format::float32);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "outt");
  }
}

TEST(Registry, EveryEntryGeneratesEveryDefaultSizeAndRoundTripsItsInputs) {
  for (const Algorithm* a : builtin_registry().all()) {
    for (const auto& size : a->sizes()) {
      const auto p = a->generate(size, Format::float32, 1);
      EXPECT_EQ(p->input_format() == Format::float64, false) << a->name() << " " << size;
      NpyMap arrays;
      for (const auto& [name, t] : p->inputs()) arrays[name] = NpyArray{NpyKind::floating, 4, t};
      const auto q = a->from_arrays(arrays, {});
      EXPECT_EQ(q->describe(), p->describe());
    }
  }
}
