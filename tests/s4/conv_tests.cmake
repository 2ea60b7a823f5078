# The shared FFT, the causal convolution and the scan (spec/s4_conv.md).
touchstone_test(s4_conv_fft_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_fft_test.cpp)
touchstone_test(s4_conv_fft_slow_tests slow ${CMAKE_CURRENT_LIST_DIR}/conv_fft_slow_test.cpp)
touchstone_test(s4_conv_tests property ${CMAKE_CURRENT_LIST_DIR}/conv_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/conv_properties_test.cpp)
target_link_libraries(s4_conv_tests PRIVATE touchstone_cpu)
# The cuda-f32 convolution's kernel bodies on the host (no GPU needed) and on a device (skips).
touchstone_test(s4_conv_cuda_emulation_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_cuda_emulation_test.cpp)
target_link_libraries(s4_conv_cuda_emulation_tests PRIVATE touchstone_cpu)
touchstone_test(s4_conv_cuda_tests cuda ${CMAKE_CURRENT_LIST_DIR}/conv_cuda_test.cpp)
touchstone_test(s4_conv_slow_tests slow ${CMAKE_CURRENT_LIST_DIR}/conv_slow_test.cpp)
target_link_libraries(s4_conv_slow_tests PRIVATE touchstone_cpu)
# annotated-s4's test_cnn_is_rnn (uses part C's discretize_bilinear and ssm_kernel_dense).
touchstone_test(s4_conv_regression_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_regression_test.cpp)
target_link_libraries(s4_conv_regression_tests PRIVATE touchstone_cpu)
# annotated-s4's s4d test_conversion, conv == scan half (uses part B's s4d.hpp oracle).
touchstone_test(s4_conv_conversion_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_conversion_test.cpp)
# annotated-s4's (DPLR) test_conversion, CNN = RNN half (the kernel from the s4.kernel_dplr entry).
touchstone_test(s4_conv_dplr_conversion_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_dplr_conversion_test.cpp)
# annotated-s4's dss.py test_conversion (the DSS-softmax oracle of part B's dss.hpp).
touchstone_test(s4_conv_dss_conversion_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_dss_conversion_test.cpp)
# diff of the peers' FFT convolutions in PyTorch float32 (Debian's python3-torch; skipped without).
add_test(NAME s4_conv_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/conv_peer_test.sh
         $<TARGET_FILE:touchstone> /usr/bin/python3)
set_tests_properties(s4_conv_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
