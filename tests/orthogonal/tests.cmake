# The orthogonal family (spec/orthogonal.md).
touchstone_test(orthogonal_tests unit ${CMAKE_CURRENT_LIST_DIR}/orthogonal_test.cpp)
# [ORTH-LAPACK-NORMWISE] the LAPACK convention's normwise bound, up to the bench size.
touchstone_test(orthogonal_lapack_normwise_tests unit ${CMAKE_CURRENT_LIST_DIR}/lapack_normwise_test.cpp)
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
# [ORTH-CUDA] The cuda-f32 bodies run on the host equal cpu-f32 bitwise; the device test (label cuda)
# skips with its reason where no device can run it.
touchstone_test(orthogonal_cuda_emulation_tests unit ${CMAKE_CURRENT_LIST_DIR}/cuda_emulation_test.cpp)
touchstone_test(orthogonal_cuda_tests cuda ${CMAKE_CURRENT_LIST_DIR}/orthogonal_cuda_test.cpp)
# [ORTH-CWY-FAST] the blocked CWY, T-CWY and apply bit for bit against the order header's run.
touchstone_test(orthogonal_cwy_fast_tests unit ${CMAKE_CURRENT_LIST_DIR}/cwy_fast_test.cpp)
# [ORTH-ORTH-TABLE] the a-priori orthogonality anchor (the large sizes: build/bench/orthogonal_defect).
touchstone_test(orthogonal_anchor_tests unit ${CMAKE_CURRENT_LIST_DIR}/orthogonality_anchor_test.cpp)
target_include_directories(orthogonal_anchor_tests PRIVATE ${PROJECT_SOURCE_DIR}/bench)
# [ORTH-POLAR-ORACLE] the polar factor's MPFR oracle (the oracle of orthogonal.polar).
touchstone_test(orthogonal_polar_oracle_tests unit ${CMAKE_CURRENT_LIST_DIR}/polar_oracle_test.cpp)
# [ORTH-SPEED-ACCURACY] the speed/accuracy table's core (bench/orthogonal_speed.hpp) at n = 8.
touchstone_test(orthogonal_speed_table_tests unit ${CMAKE_CURRENT_LIST_DIR}/speed_table_test.cpp)
target_include_directories(orthogonal_speed_table_tests PRIVATE ${PROJECT_SOURCE_DIR}/bench)
# [ORTH-POLAR-BOUND] [ORTH-POLAR-CPU] the polar factor's certificate on perturbed answers, the cpu
# backends it certifies, and the wrong conventions it fails.
touchstone_test(orthogonal_polar_tests unit ${CMAKE_CURRENT_LIST_DIR}/polar_test.cpp)
# [ORTH-CAYLEY-NORMWISE] the Cayley map's normwise bound: containment, the bench size, wrong answers.
touchstone_test(orthogonal_cayley_normwise_tests unit ${CMAKE_CURRENT_LIST_DIR}/cayley_normwise_test.cpp)
# [ORTH-CWY-SOLVE-COLUMNS] the CWY family's bounds' array paths (products, substitutions for many
# right-hand sides, du) give the order header's loops' tracked values bit for bit; a wrong row sum is caught.
touchstone_test(orthogonal_cwy_arrays_tests unit ${CMAKE_CURRENT_LIST_DIR}/cwy_arrays_test.cpp)
