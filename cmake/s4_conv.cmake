# The causal convolution y = K * u + D u (FFT) and the recurrent (scan) mode.
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4_conv.cpp)
