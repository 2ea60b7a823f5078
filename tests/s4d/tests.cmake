# S4D and DSS kernels (spec/s4d.md, spec/dss.md).
touchstone_test(s4d_unit_tests unit s4d/s4d_test.cpp)
touchstone_test(dss_unit_tests unit dss/dss_test.cpp)
# N = 256, L = 16384: seconds of oracle time, so `slow`.
touchstone_test(s4d_slow_tests slow s4d/s4d_slow_test.cpp)
# cuda-f32 on a device; skips with the reason where there is none.
touchstone_test(s4d_cuda_tests cuda s4d/s4d_cuda_test.cpp)
