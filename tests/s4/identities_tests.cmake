# The S4 identities proved in Coq (spec/s4_identities.md), checked numerically in MPFR.
touchstone_test(s4_identities_tests unit ${CMAKE_CURRENT_LIST_DIR}/identities_test.cpp)
