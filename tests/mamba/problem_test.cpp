// Validation of selective scan problems: every invalid input is an InvalidInput naming the array.
// covers: MAMBA-SCAN-SHAPES MAMBA-SCAN-NONFINITE MAMBA-SCAN-GROUPS
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/reference/mamba_problem.hpp"

using namespace touchstone;
using namespace touchstone::mamba;

namespace {
SelectiveScanInputs<double> valid_inputs(Index batch = 2, Index dim = 4, Index N = 3, Index L = 5) {
  SelectiveScanInputs<double> in;
  in.u = Tensor<double>(Shape{batch, dim, L}, 0.5);
  in.delta = Tensor<double>(Shape{batch, dim, L}, 0.1);
  in.A = Tensor<double>(Shape{dim, N}, -1.0);
  in.B = Tensor<double>(Shape{batch, 2, N, L}, 1.0);
  in.C = Tensor<double>(Shape{dim, N}, 1.0);
  return in;
}

std::string invalid_argument_of(SelectiveScanInputs<double> in) {
  try {
    SelectiveScanProblem<double> p(std::move(in));
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(accepted)";
}
}  // namespace

TEST(SelectiveScanProblem, AcceptsEveryLayout) {
  auto in = valid_inputs();
  const SelectiveScanProblem<double> p(in);
  EXPECT_EQ(p.batch(), 2);
  EXPECT_EQ(p.dstate(), 3);
  EXPECT_TRUE(p.B_layout().variable);
  EXPECT_EQ(p.B_layout().groups, 2);
  EXPECT_FALSE(p.C_layout().variable);
  in.B = Tensor<double>(Shape{2, 3, 5}, 1.0);  // the peer's 3-d variable layout: one group
  const SelectiveScanProblem<double> q(in);
  EXPECT_EQ(q.B_layout().groups, 1);
  EXPECT_EQ(q.B_layout().channels_per_group, 4);
}

TEST(SelectiveScanProblem, GroupOfChannelIsDOverDimOverG) {
  auto in = valid_inputs(1, 8, 2, 3);
  in.B = Tensor<double>(Shape{1, 4, 2, 3}, 1.0);
  const SelectiveScanProblem<double> p(std::move(in));
  // dim 8, 4 groups: channels 0,1 -> 0; 2,3 -> 1; 4,5 -> 2; 6,7 -> 3 (not d % G).
  for (Index d = 0; d < 8; ++d) EXPECT_EQ(p.B_layout().group_of(d), d / 2);
}

TEST(SelectiveScanProblem, NamesTheOffendingArray) {
  auto in = valid_inputs();
  in.u = Tensor<double>(Shape{2, 4}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "u");

  in = valid_inputs();
  in.delta = Tensor<double>(Shape{2, 4, 6}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "delta");

  in = valid_inputs();
  in.A = Tensor<double>(Shape{5, 3}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "A");

  in = valid_inputs();
  in.B = Tensor<double>(Shape{2, 3, 3, 5}, 0.0);  // 3 groups do not divide dim 4
  EXPECT_EQ(invalid_argument_of(in), "B");

  in = valid_inputs();
  in.C = Tensor<double>(Shape{2, 2, 3, 4}, 0.0);  // wrong seqlen
  EXPECT_EQ(invalid_argument_of(in), "C");

  in = valid_inputs();
  in.C = Tensor<double>(Shape{3}, 0.0);  // wrong rank
  EXPECT_EQ(invalid_argument_of(in), "C");

  in = valid_inputs();
  in.D = Tensor<double>(Shape{3}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "D");

  in = valid_inputs();
  in.z = Tensor<double>(Shape{2, 4, 4}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "z");

  in = valid_inputs();
  in.delta_bias = Tensor<double>(Shape{4, 1}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "delta_bias");

  in = valid_inputs();
  in.h0 = Tensor<double>(Shape{2, 4, 2}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "h0");

  in = valid_inputs();
  in.u = Tensor<double>(Shape{0, 4, 5}, 0.0);
  in.delta = Tensor<double>(Shape{0, 4, 5}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "u");

  in = valid_inputs();
  in.A = Tensor<double>(Shape{4, 0}, 0.0);
  EXPECT_EQ(invalid_argument_of(in), "A");
}

TEST(SelectiveScanProblem, RejectsInfinitiesAndAcceptsNaN) {
  auto in = valid_inputs();
  in.delta(1, 2, 3) = INFINITY;
  try {
    SelectiveScanProblem<double> p(in);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "delta");
    EXPECT_NE(std::string(e.what()).find("(1, 2, 3)"), std::string::npos);
  }
  in = valid_inputs();
  in.h0 = Tensor<double>(Shape{2, 4, 3}, 0.0);
  (*in.h0)[5] = -INFINITY;
  EXPECT_EQ(invalid_argument_of(in), "h0");
  in = valid_inputs();
  in.u[3] = NAN;
  EXPECT_EQ(invalid_argument_of(in), "(accepted)");
}
