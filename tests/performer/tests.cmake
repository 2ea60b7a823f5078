# The Performer family (spec/performer.md).
touchstone_test(performer_tests unit ${CMAKE_CURRENT_LIST_DIR}/performer_test.cpp)
