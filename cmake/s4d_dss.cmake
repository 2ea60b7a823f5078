# S4D and DSS kernels (spec/s4d.md, spec/dss.md).
target_sources(touchstone_reference PRIVATE ${PROJECT_SOURCE_DIR}/reference/src/s4d_reference.cpp
  ${PROJECT_SOURCE_DIR}/reference/src/s4d_bound.cpp
  ${PROJECT_SOURCE_DIR}/reference/src/dss_reference.cpp ${PROJECT_SOURCE_DIR}/reference/src/dss_bound.cpp)
target_sources(touchstone_cpu PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cpu/s4d.cpp
  ${PROJECT_SOURCE_DIR}/optimized/cpu/dss.cpp)
if(TOUCHSTONE_HAVE_CUDA)
  target_sources(touchstone_cuda PRIVATE ${PROJECT_SOURCE_DIR}/optimized/cuda/s4d.cu)
endif()
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4d.cpp
  ${PROJECT_SOURCE_DIR}/registry/dss.cpp)
