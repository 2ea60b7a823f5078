// covers: CORE-ERRORS CORE-TENSOR
#include <gtest/gtest.h>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"

using namespace touchstone;

TEST(InvalidInput, NamesTheArgumentFirst) {
  const InvalidInput e("delta", "expected shape (2, 3)");
  EXPECT_EQ(e.argument(), "delta");
  EXPECT_STREQ(e.what(), "delta: expected shape (2, 3)");
}

TEST(Shape, CountsAndPrints) {
  EXPECT_EQ(Shape{}.count(), 1);
  EXPECT_EQ((Shape{2, 3, 4}).count(), 24);
  EXPECT_EQ((Shape{2, 0, 4}).count(), 0);
  EXPECT_EQ((Shape{5}).str(), "(5,)");
  EXPECT_EQ((Shape{2, 3}).str(), "(2, 3)");
}

TEST(Shape, RejectsNegativeExtents) {
  try {
    Shape s(std::vector<Index>{2, -1}, "B");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "B");
  }
}

TEST(Shape, RejectsCountsThatWouldOverflowIndexArithmetic) {
  // 2^24 * 2^24 = 2^48 is the limit; one more element is refused, and so is a product that
  // would overflow int64 itself.
  EXPECT_NO_THROW(Shape(std::vector<Index>{Index{1} << 24, Index{1} << 24}));
  EXPECT_THROW(Shape(std::vector<Index>{(Index{1} << 24) + 1, Index{1} << 24}), InvalidInput);
  EXPECT_THROW(Shape(std::vector<Index>{Index{1} << 40, Index{1} << 40, Index{1} << 40}), InvalidInput);
}

TEST(Tensor, RowMajorIndexing) {
  Tensor<int> t(Shape{2, 3, 4});
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<int>(i);
  EXPECT_EQ(t(1, 2, 3), 23);
  EXPECT_EQ(t(0, 1, 0), 4);
  EXPECT_EQ(t.offset(1, 0, 2), 14);
  EXPECT_EQ(index_string(t.shape(), 23), "(1, 2, 3)");
}

TEST(Tensor, DataSizeMustMatchShape) {
  try {
    Tensor<double> t(Shape{2, 2}, std::vector<double>(3), "A");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "A");
  }
}

TEST(Tensor, CastIsElementwise) {
  Tensor<float> t(Shape{2}, std::vector<float>{0.1f, -3.5f});
  const Tensor<double> d = t.cast<double>();
  EXPECT_EQ(d[0], static_cast<double>(0.1f));
  EXPECT_EQ(d[1], -3.5);
}
