# The orthogonal family (spec/orthogonal.md).
touchstone_test(orthogonal_tests unit ${CMAKE_CURRENT_LIST_DIR}/orthogonal_test.cpp)
touchstone_test(orthogonal_riemannian_tests unit ${CMAKE_CURRENT_LIST_DIR}/riemannian_test.cpp)
touchstone_test(orthogonal_matching_tests unit ${CMAKE_CURRENT_LIST_DIR}/matching_test.cpp)
# diff of PyTorch's torch.linalg.householder_product (Debian's torch) for the LAPACK convention;
# skipped (77) with the reason when /usr/bin/python3 has no torch.
add_test(NAME orthogonal_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/orthogonal_peer_test.sh
  $<TARGET_FILE:touchstone>)
set_tests_properties(orthogonal_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
# diff of geotorch's SO parametrizations (expm, cayley) and one SGD step through them, in the peers'
# venv; skipped (77) with the reason when the venv cannot be made.
add_test(NAME orthogonal_geotorch_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/geotorch_peer_test.sh
  $<TARGET_FILE:touchstone>)
set_tests_properties(orthogonal_geotorch_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
