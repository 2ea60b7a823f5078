// The structured reading of shape strings (core/shape_spec.hpp) that the registry-driven fuzzer
// and RapidCheck properties build their problems from: every shape string of every registered
// entry reads as at least one alternative of valid extents (or names another array of the entry),
// and a few exact cases.
// covers: CORE-REGISTRY
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "builtin.hpp"
#include "touchstone/core/shape_spec.hpp"

using namespace touchstone;

namespace {

std::vector<std::string> dims_of(const ShapeSpec& s) { return s.dims; }

}  // namespace

TEST(ShapeSpec, EveryShapeStringOfEveryEntryParses) {
  int strings = 0, references = 0;
  for (const Algorithm* a : builtin_registry().all()) {
    std::set<std::string> names;
    for (const ArraySpec& s : a->inputs()) names.insert(s.name);
    for (const ArraySpec& s : a->outputs()) names.insert(s.name);
    auto check = [&](const ArraySpec& spec, bool input) {
      ++strings;
      SCOPED_TRACE(a->name() + " " + spec.name + " \"" + spec.shape + "\"");
      const std::string ref = shape_reference(spec.shape);
      if (!ref.empty()) {
        // Only an output may borrow a shape, and only from an array of its own entry.
        EXPECT_FALSE(input);
        EXPECT_TRUE(names.count(ref)) << "names " << ref << ", not an array of the entry";
        ++references;
        return;
      }
      const std::vector<ShapeSpec> alts = parse_shapes(spec.shape);
      ASSERT_FALSE(alts.empty());
      for (const ShapeSpec& alt : alts)
        for (const std::string& d : alt.dims) EXPECT_TRUE(parse_dim(d).has_value()) << "extent \"" << d << "\"";
    };
    for (const ArraySpec& s : a->inputs()) check(s, true);
    for (const ArraySpec& s : a->outputs()) check(s, false);
  }
  EXPECT_GT(strings, 0);
  std::printf("%d shape strings, %d of them another array's shape\n", strings, references);
}

TEST(ShapeSpec, OneAlternativeOfNames) {
  const auto v = parse_shapes("(batch, dim, seqlen)");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].complex);
  EXPECT_EQ(dims_of(v[0]), (std::vector<std::string>{"batch", "dim", "seqlen"}));
}

TEST(ShapeSpec, LeadingComplexAppliesToEveryAlternative) {
  const auto v = parse_shapes("complex (H, N) | (N,)");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(v[0].complex);
  EXPECT_TRUE(v[1].complex);
  EXPECT_EQ(dims_of(v[0]), (std::vector<std::string>{"H", "N"}));
  EXPECT_EQ(dims_of(v[1]), (std::vector<std::string>{"N"}));  // the trailing comma adds nothing
}

TEST(ShapeSpec, AnAlternativeEndingInTwoIsTheRealView) {
  const auto v = parse_shapes("complex (dim, dstate) | (dim, dstate, 2)");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(v[0].complex);
  EXPECT_FALSE(v[1].complex);
  EXPECT_EQ(dims_of(v[1]), (std::vector<std::string>{"dim", "dstate", "2"}));
  const auto real = parse_shapes("(H, N, 2)");
  ASSERT_EQ(real.size(), 1u);
  EXPECT_FALSE(real[0].complex);
  EXPECT_EQ(dims_of(real[0]), (std::vector<std::string>{"H", "N", "2"}));
}

TEST(ShapeSpec, AnAlternativeEndingInTwiceAnExtentIsInterleaved) {
  const auto v = parse_shapes("complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, groups, dstate, 2 seqlen)");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(v[0].complex);
  EXPECT_FALSE(v[1].complex);
  EXPECT_FALSE(v[2].complex);
  EXPECT_EQ(dims_of(v[1]), (std::vector<std::string>{"batch", "dstate", "2 seqlen"}));
  // Without a leading "complex", nothing is complex.
  const auto w = parse_shapes("(2 d_inner, d_model)");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_FALSE(w[0].complex);
  EXPECT_TRUE(interleaved("2 seqlen"));
  EXPECT_FALSE(interleaved("2"));
  EXPECT_FALSE(interleaved("21"));
  EXPECT_FALSE(interleaved("seqlen"));
}

TEST(ShapeSpec, ScalarsAndCommentary) {
  auto v = parse_shapes("()");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].dims.empty());
  v = parse_shapes("() | (H,)");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(v[0].dims.empty());
  EXPECT_EQ(dims_of(v[1]), (std::vector<std::string>{"H"}));
  // Text after the parenthesis is commentary: the first "(...)" of an alternative is its shape.
  v = parse_shapes("() or (1,)");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].dims.empty());
  v = parse_shapes("complex (H, L) as (H, L, 2)");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].complex);
  EXPECT_EQ(dims_of(v[0]), (std::vector<std::string>{"H", "L"}));
}

TEST(ShapeSpec, AnotherArraysShape) {
  EXPECT_TRUE(parse_shapes("B's shape").empty());
  EXPECT_EQ(shape_reference("B's shape"), "B");
  EXPECT_EQ(shape_reference("A's layout"), "A");
  EXPECT_EQ(shape_reference("Lambda's shape, complex as (..., 2)"), "Lambda");
  EXPECT_EQ(shape_reference("(dim, dstate)"), "");
  EXPECT_EQ(shape_reference("complex (H, N)"), "");
  EXPECT_EQ(shape_reference("B's"), "");
}

TEST(ShapeSpec, ExtentsAreSumsOfNamesAndLiterals) {
  const std::map<std::string, std::int64_t> e{{"dt_rank", 3}, {"d_state", 4}, {"seqlen", 5}, {"N'", 2}};
  auto of = [&](const std::string& n) -> std::optional<std::int64_t> {
    auto it = e.find(n);
    return it == e.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
  };
  EXPECT_EQ(dim_extent("dt_rank + 2 d_state", of), 11);
  EXPECT_EQ(dim_extent("2 seqlen", of), 10);
  EXPECT_EQ(dim_extent("N'", of), 2);
  EXPECT_EQ(dim_extent("7", of), 7);
  EXPECT_EQ(dim_extent("1 + seqlen", of), 6);
  EXPECT_EQ(dim_extent("d_model", of), std::nullopt);  // unknown name
  EXPECT_EQ(dim_extent("...", of), std::nullopt);
  EXPECT_EQ(dim_extent("2x", of), std::nullopt);
  EXPECT_EQ(dim_extent("a +", of), std::nullopt);
  EXPECT_EQ(dim_extent("", of), std::nullopt);
  EXPECT_EQ(dim_names("dt_rank + 2 d_state"), (std::vector<std::string>{"dt_rank", "d_state"}));
  EXPECT_TRUE(is_integer_literal("12"));
  EXPECT_FALSE(is_integer_literal("1a"));
  EXPECT_FALSE(is_integer_literal(""));
}
