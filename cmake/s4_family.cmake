# The S4 family's sources, one fragment per part, each adding to touchstone_reference,
# touchstone_cpu, touchstone_cuda (a .cu file when CUDA is built) and touchstone_registry with
# target_sources.
target_link_libraries(touchstone_cpu PUBLIC PkgConfig::FFTW3)
include(${CMAKE_CURRENT_LIST_DIR}/s4_dplr.cmake)   # HiPPO, NPLR/DPLR, Cauchy, Woodbury (spec/s4.md)
include(${CMAKE_CURRENT_LIST_DIR}/s4d_dss.cmake)   # S4D and DSS kernels (spec/s4d.md, spec/dss.md)
include(${CMAKE_CURRENT_LIST_DIR}/s4_conv.cmake)   # convolution and scan (spec/s4_conv.md)
# The options every part reads the same way (the conjugate convention, file scalars).
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4_options.cpp)
