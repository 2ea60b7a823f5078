# S4D (Vandermonde kernels, inits) and DSS (exp and softmax kernels).
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4d.cpp
  ${PROJECT_SOURCE_DIR}/registry/dss.cpp)
