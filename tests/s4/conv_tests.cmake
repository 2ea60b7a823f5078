# The shared FFT, the causal convolution and the scan (spec/s4_conv.md).
touchstone_test(s4_conv_fft_tests unit ${CMAKE_CURRENT_LIST_DIR}/conv_fft_test.cpp)
touchstone_test(s4_conv_fft_slow_tests slow ${CMAKE_CURRENT_LIST_DIR}/conv_fft_slow_test.cpp)
touchstone_test(s4_conv_tests property ${CMAKE_CURRENT_LIST_DIR}/conv_test.cpp)
target_link_libraries(s4_conv_tests PRIVATE touchstone_cpu)
