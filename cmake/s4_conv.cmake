# The causal convolution y = K * u + D u (FFT) and the recurrent (scan) mode (spec/s4_conv.md),
# and the shared CPU FFT (FFTW) with its error model.
target_sources(touchstone_reference PRIVATE ${PROJECT_SOURCE_DIR}/reference/src/s4_conv_reference.cpp)
target_sources(touchstone_cpu PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cpu/fft.cpp)
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4_conv.cpp)
