# The bilevel family (spec/bilevel.md).
touchstone_test(bilevel_tests unit ${CMAKE_CURRENT_LIST_DIR}/bilevel_test.cpp)
# diff of higher 0.2.1 (PyPI, in the peers' venv over Debian's torch, scripts/peer_venv.sh): its MAML
# hypergradient and first-order mode on the quadratic class; skipped (77) with the reason when the
# venv cannot be made.
add_test(NAME bilevel_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bilevel_peer_test.sh
  $<TARGET_FILE:touchstone> ${PROJECT_SOURCE_DIR})
set_tests_properties(bilevel_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
# The FOM counterexample and its demo (apps/counterexample).
touchstone_test(bilevel_counterexample_tests unit ${CMAKE_CURRENT_LIST_DIR}/counterexample_test.cpp)
target_link_libraries(bilevel_counterexample_tests PRIVATE touchstone_counterexample)
# The logistic class (its oracle against Boost autodiff over MPFR, bounds, diff).
touchstone_test(bilevel_logistic_tests unit ${CMAKE_CURRENT_LIST_DIR}/logistic_test.cpp)
# The MAML sinusoid class (its oracle against Boost autodiff over MPFR, the ReLU kink, bounds, diff).
touchstone_test(bilevel_maml_tests unit ${CMAKE_CURRENT_LIST_DIR}/maml_test.cpp)
# diff of higher 0.2.1 and torchopt 0.7.3 on the MAML sinusoid class (exact and first-order).
add_test(NAME bilevel_maml_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/maml_peer_test.sh
  $<TARGET_FILE:touchstone> ${PROJECT_SOURCE_DIR})
set_tests_properties(bilevel_maml_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
# bilevel.quadratic.ufom_adaptive: one step of adaptive UFOM (oracle, regimes, bounds, wrong updates).
touchstone_test(bilevel_adaptive_tests unit ${CMAKE_CURRENT_LIST_DIR}/adaptive_test.cpp)
# The MAML class's fast CPU path equals order::Mlp's run bit for bit (RapidCheck problems).
touchstone_test(bilevel_maml_fast_tests unit ${CMAKE_CURRENT_LIST_DIR}/maml_fast_test.cpp)
# The cuda-f32 MAML bodies run on the CPU (host emulation): bitwise cpu-f32 ([BILEVEL-CUDA]).
touchstone_test(bilevel_maml_cuda_emulation_tests unit ${CMAKE_CURRENT_LIST_DIR}/maml_cuda_emulation_test.cpp)
# cuda-f32 on a device; skips with the reason where there is none.
touchstone_test(bilevel_cuda_tests cuda ${CMAKE_CURRENT_LIST_DIR}/bilevel_cuda_test.cpp)
