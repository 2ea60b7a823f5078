// covers: CORE-FORMATS
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/formats.hpp"

using namespace touchstone;

TEST(Formats, Parameters) {
  EXPECT_EQ(format_info(Format::float32).u, std::ldexp(1.0, -24));
  EXPECT_EQ(format_info(Format::float32).eta, std::ldexp(1.0, -150));
  EXPECT_EQ(format_info(Format::float64).eta, std::ldexp(1.0, -1075));
  EXPECT_EQ(format_info(Format::float16).max_finite, 65504.0);
  EXPECT_EQ(format_info(Format::bfloat16).max_finite, std::ldexp(255.0, 120));
  EXPECT_EQ(format_info(Format::float32).max_finite, static_cast<double>(3.40282347e38f));
}

TEST(Formats, ParseNamesAndRejectsOthers) {
  EXPECT_EQ(parse_format("bfloat16"), Format::bfloat16);
  try {
    parse_format("fp8");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "format");
  }
}

TEST(Formats, RoundToFloat16) {
  // Ties to even at 1 + 2^-11 (halfway between 1 and 1 + 2^-10).
  EXPECT_EQ(round_to_format(1 + std::ldexp(1.0, -11), Format::float16), 1.0);
  EXPECT_EQ(round_to_format(1 + 3 * std::ldexp(1.0, -11), Format::float16), 1 + std::ldexp(1.0, -9));
  // Overflow: 65519 rounds down to the largest finite, 65520 (the midpoint) up to infinity.
  EXPECT_EQ(round_to_format(65519.0, Format::float16), 65504.0);
  EXPECT_TRUE(std::isinf(round_to_format(65520.0, Format::float16)));
  // Gradual underflow: the subnormal quantum 2^-24; half of it ties to even (zero).
  EXPECT_EQ(round_to_format(std::ldexp(1.0, -24), Format::float16), std::ldexp(1.0, -24));
  EXPECT_EQ(round_to_format(std::ldexp(1.0, -25), Format::float16), 0.0);
  EXPECT_EQ(round_to_format(std::ldexp(3.0, -26), Format::float16), std::ldexp(1.0, -24));
}

TEST(Formats, RoundToBfloat16MatchesTruncatedFloat32WithRounding) {
  // bfloat16 keeps 8 significant bits: 1 + 2^-8 ties to 1, 1 + 3*2^-9 rounds to 1 + 2^-7.
  EXPECT_EQ(round_to_format(1 + std::ldexp(1.0, -8), Format::bfloat16), 1.0);
  EXPECT_EQ(round_to_format(1 + 3 * std::ldexp(1.0, -9), Format::bfloat16), 1 + std::ldexp(1.0, -7));
  EXPECT_TRUE(representable_in(std::ldexp(1.0, -133), Format::bfloat16));
  EXPECT_FALSE(representable_in(0.1, Format::bfloat16));
}

TEST(Formats, RepresentableIn) {
  EXPECT_TRUE(representable_in(0.5, Format::float16));
  EXPECT_TRUE(representable_in(static_cast<double>(0.1f), Format::float32));
  EXPECT_FALSE(representable_in(0.1, Format::float32));
  EXPECT_TRUE(representable_in(NAN, Format::float16));
}

TEST(Formats, NarrowestFormatOfArrays) {
  const std::vector<double> halves = {0.5, -2.0, NAN}, tenth32 = {static_cast<double>(0.1f)},
                            tenth64 = {0.1}, big = {65536.0 * 2}, fine = {1 + std::ldexp(1.0, -9)};
  EXPECT_EQ(narrowest_format({halves}), Format::float16);
  EXPECT_EQ(narrowest_format({halves, big}), Format::bfloat16);    // beyond float16's range
  EXPECT_EQ(narrowest_format({halves, fine}), Format::float16);    // 10 bits: float16, not bfloat16
  EXPECT_EQ(narrowest_format({big, fine}), Format::float32);       // neither alone suffices
  EXPECT_EQ(narrowest_format({halves, tenth32}), Format::float32);
  EXPECT_EQ(narrowest_format({tenth32, tenth64}), Format::float64);
}
