// The (entry, default size) pairs that every registry-driven test runs over, named
// entry/size in ctest and gtest output (not gtest's byte dump of the parameter).
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>
#include <vector>

#include "builtin.hpp"

namespace touchstone::testing_registry {

struct Case {
  const Algorithm* algorithm;
  std::string size;
};

// How gtest prints a Case (in --gtest_list_tests and failure messages).
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.algorithm->name() << "/" << c.size; }

inline std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (const Algorithm* a : builtin_registry().all())
    for (const auto& s : a->sizes()) v.push_back({a, s});
  return v;
}

// "mamba_selective_scan_small": gtest names allow only [A-Za-z0-9_].
inline std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = info.param.algorithm->name() + "_" + info.param.size;
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

}  // namespace touchstone::testing_registry
