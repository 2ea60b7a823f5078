# The bilevel family (spec/bilevel.md).
touchstone_test(bilevel_tests unit ${CMAKE_CURRENT_LIST_DIR}/bilevel_test.cpp)
