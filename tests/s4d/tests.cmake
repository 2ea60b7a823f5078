# S4D and DSS kernels (spec/s4d.md, spec/dss.md).
touchstone_test(s4d_unit_tests unit s4d/s4d_test.cpp)
touchstone_test(dss_unit_tests unit dss/dss_test.cpp)
# N = 256, L = 16384: seconds of oracle time, so `slow`.
touchstone_test(s4d_slow_tests slow s4d/s4d_slow_test.cpp)
# cuda-f32 on a device; skips with the reason where there is none.
touchstone_test(s4d_cuda_tests cuda s4d/s4d_cuda_test.cpp)
# diff of PyTorch float32 peers on numpy-written files (Debian's python3-torch; skipped without).
add_test(NAME s4d_peer_test COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/s4d/s4d_peer_test.sh
         $<TARGET_FILE:touchstone> /usr/bin/python3)
set_tests_properties(s4d_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
# The kernel's backward pass: the VJP oracle against central differences, CPU backends and bounds.
touchstone_test(s4d_backward_tests property s4d/s4d_backward_test.cpp)
