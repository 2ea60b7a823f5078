# The Performer family (spec/performer.md).
touchstone_test(performer_tests unit ${CMAKE_CURRENT_LIST_DIR}/performer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/performer_random_test.cpp ${CMAKE_CURRENT_LIST_DIR}/performer_slim_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/performer_fast_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/performer_cuda_emulation_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/performer_projection_test.cpp)
# cuda-f32 on a device; skips with the reason where there is none.
touchstone_test(performer_cuda_tests cuda ${CMAKE_CURRENT_LIST_DIR}/performer_cuda_test.cpp)
# diff of the peers' own code: performer-pytorch from PyPI in a venv over Debian's torch
# (scripts/peer_venv.sh), and PyTorch's softmax attention; skipped (77) with the reason when the
# venv cannot be made.
add_test(NAME performer_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/performer_peer_test.sh
  $<TARGET_FILE:touchstone> ${PROJECT_SOURCE_DIR})
set_tests_properties(performer_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
