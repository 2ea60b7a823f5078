# S4 proper (spec/s4.md): HiPPO, NPLR/DPLR, dense SSM kernels, Cauchy, the DPLR kernel.
touchstone_test(s4_hippo_tests unit ${CMAKE_CURRENT_LIST_DIR}/hippo_test.cpp)
