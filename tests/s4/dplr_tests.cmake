# S4 proper (spec/s4.md): HiPPO, NPLR/DPLR, dense SSM kernels, Cauchy, the DPLR kernel.
touchstone_test(s4_hippo_tests unit ${CMAKE_CURRENT_LIST_DIR}/hippo_test.cpp)
touchstone_test(s4_cauchy_tests differential ${CMAKE_CURRENT_LIST_DIR}/cauchy_test.cpp)
target_link_libraries(s4_cauchy_tests PRIVATE touchstone_cpu)
touchstone_test(s4_dplr_tests differential ${CMAKE_CURRENT_LIST_DIR}/dplr_kernel_test.cpp)
target_link_libraries(s4_dplr_tests PRIVATE touchstone_cpu)
# diff of a numpy evaluation of the DPLR kernel the peers' way (skipped without numpy).
add_test(NAME s4_kernel_dplr_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kernel_dplr_peer_test.sh
         $<TARGET_FILE:touchstone> /usr/bin/python3)
set_tests_properties(s4_kernel_dplr_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
# Long L (16384) and N = 256: minutes, so `slow`.
touchstone_test(s4_dplr_slow_tests slow ${CMAKE_CURRENT_LIST_DIR}/dplr_slow_test.cpp)
target_link_libraries(s4_dplr_slow_tests PRIVATE touchstone_cpu)
add_test(NAME s4_cauchy_peer_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cauchy_peer_test.sh
         $<TARGET_FILE:touchstone> /usr/bin/python3)
set_tests_properties(s4_cauchy_peer_test PROPERTIES LABELS differential SKIP_RETURN_CODE 77)
add_test(NAME s4_file_options_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/file_options_test.sh $<TARGET_FILE:touchstone>)
set_tests_properties(s4_file_options_test PROPERTIES LABELS unit)
