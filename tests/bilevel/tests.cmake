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
