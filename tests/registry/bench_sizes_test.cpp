// The `bench` sizes of the Performer and orthogonal entries that had none (issue 13's 50x table,
// bench/RESULTS.md "Bench sizes for the entries without one"): each entry generates "bench" with
// the shape its spec chapter documents, and `check` does not run it (it is not among sizes()).
// covers: PERF-DEFAULTS ORTH-BENCH-SIZES
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "builtin.hpp"

using namespace touchstone;

namespace {

struct BenchShape {
  const char* entry;
  const char* array;  // one input array whose shape fixes the documented size
  std::vector<Index> shape;
};

// The shapes of spec/performer.md [PERF-DEFAULTS] and spec/orthogonal.md [ORTH-BENCH-SIZES].
const std::vector<BenchShape> kDocumented = {
    {"performer.softmax_attention", "q", {1, 1, 512, 64}},
    {"performer.softmax_attention_backward", "q", {1, 1, 512, 64}},
    {"performer.generalized_features", "x", {1, 1, 1024, 64}},
    {"performer.generalized_features", "projection_matrix", {256, 64}},
    {"performer.generalized_features_backward", "dfeatures", {1, 1, 1024, 256}},
    {"performer.slim_layer", "x", {512, 256}},
    {"performer.slim_layer", "w_q", {256, 64}},
    {"performer.slim_layer_backward", "x", {256, 256}},
    {"performer.slim_layer_backward", "w_q", {256, 64}},
    {"orthogonal.cayley", "A", {256, 256}},
    {"orthogonal.cayley_backward", "dQ", {256, 256}},
    {"orthogonal.matrix_exp", "A", {64, 64}},
    {"orthogonal.matrix_exp_backward", "dQ", {64, 64}},
    {"orthogonal.cwy_apply", "h", {256, 1024}},
    {"orthogonal.cwy_apply", "V", {1024, 1024}},
    {"orthogonal.cwy_backward", "V", {128, 128}},
    {"orthogonal.tcwy", "V", {128, 512}},
    {"orthogonal.tcwy_backward", "dOmega", {512, 128}},
    {"orthogonal.householder_product_lapack", "A", {256, 256}},
    {"orthogonal.householder_product_lapack", "tau", {256}},
    {"orthogonal.qf", "Y", {1024, 128}},
    {"orthogonal.qf_backward", "dQ", {1024, 128}},
    {"orthogonal.riemannian_grad", "X", {256, 256}},
    {"orthogonal.matching_flow", "A", {128, 128}},
    {"orthogonal.matching_flow", "X0", {128, 128}},
};

}  // namespace

TEST(BenchSizes, EachEntryGeneratesItsDocumentedBenchShapeOutsideCheck) {
  const Registry& r = builtin_registry();
  for (const BenchShape& b : kDocumented) {
    const Algorithm& a = r.get(b.entry);
    const auto sizes = a.sizes();
    EXPECT_EQ(std::find(sizes.begin(), sizes.end(), "bench"), sizes.end()) << b.entry;
    const auto p = a.generate("bench", Format::float32, 0);
    const Arrays in = p->inputs();
    ASSERT_TRUE(in.count(b.array)) << b.entry << " " << b.array;
    EXPECT_EQ(in.at(b.array).shape().extents(), b.shape) << b.entry << " " << b.array;
  }
}
