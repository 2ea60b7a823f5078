# The S4 family's tests: one fragment per part (included from tests/CMakeLists.txt, so
# touchstone_test and CMAKE_CURRENT_SOURCE_DIR = tests/ apply).
include(${CMAKE_CURRENT_LIST_DIR}/dplr_tests.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/identities_tests.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/conv_tests.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../s4d/tests.cmake)
