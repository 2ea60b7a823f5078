# The orthogonal family (spec/orthogonal.md).
touchstone_test(orthogonal_tests unit ${CMAKE_CURRENT_LIST_DIR}/orthogonal_test.cpp)
