# The causal convolution y = K * u + D u (FFT) and the recurrent (scan) mode (spec/s4_conv.md),
# and the shared CPU FFT (FFTW) with its error model.
target_sources(touchstone_reference PRIVATE ${PROJECT_SOURCE_DIR}/reference/src/s4_conv_reference.cpp
  ${PROJECT_SOURCE_DIR}/reference/src/s4_conv_bound.cpp)
target_sources(touchstone_cpu PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cpu/fft.cpp
  ${PROJECT_SOURCE_DIR}/optimized/cpu/s4_conv.cpp)
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4_conv.cpp)
if(TOUCHSTONE_HAVE_CUDA)
  target_sources(touchstone_cuda PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cuda/s4_conv.cu)
  # Debian's/NVIDIA's toolkit here ships only the shared cuFFT (no libcufft_static.a).
  target_link_libraries(touchstone_cuda PRIVATE CUDA::cufft)
endif()
# GCC 12's vectorizer (SLP and loop) recognizes the complex product (a c - b d, a d + b c) and emits
# vfmaddsub despite -ffp-contract=off; the spec's order (separate roundings) and the CUDA
# emulation's bit-equality need it off ([S4CONV-CONV-FFT]).
set_source_files_properties(${PROJECT_SOURCE_DIR}/optimized/cpu/s4_conv.cpp PROPERTIES
  COMPILE_OPTIONS "-fno-tree-vectorize")
