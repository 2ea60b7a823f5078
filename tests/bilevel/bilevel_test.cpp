#include <gtest/gtest.h>
TEST(Bilevel, Placeholder) {}
