# S4: HiPPO-LegS, NPLR/DPLR forms, dense SSM kernels, the Cauchy kernel and the DPLR kernel.
target_sources(touchstone_reference PRIVATE
  ${PROJECT_SOURCE_DIR}/reference/src/s4_hippo_reference.cpp)
target_sources(touchstone_registry PRIVATE ${PROJECT_SOURCE_DIR}/registry/s4.cpp)
