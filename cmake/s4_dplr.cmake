# S4: HiPPO-LegS, NPLR/DPLR forms, dense SSM kernels, the Cauchy kernel and the DPLR kernel.
target_sources(touchstone_reference PRIVATE
  ${PROJECT_SOURCE_DIR}/reference/src/s4_hippo_reference.cpp
  ${PROJECT_SOURCE_DIR}/reference/src/s4_reference.cpp
  ${PROJECT_SOURCE_DIR}/reference/src/s4_bound.cpp)
target_sources(touchstone_cpu PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cpu/s4.cpp)
if(TOUCHSTONE_HAVE_CUDA)
  target_sources(touchstone_cuda PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cuda/s4_cauchy.cu)
endif()
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4.cpp)
