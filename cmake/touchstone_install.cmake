# `cmake --install build --prefix P` installs the public headers, the libraries and the CMake
# package touchstone (P/lib/cmake/touchstone): find_package(touchstone) then gives the targets
# touchstone::core, ::reference, ::order, ::bounds, ::cpu, ::cuda and ::registry
# (examples/consumer/ is built against such a prefix in the tests).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_touchstone_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/touchstone)
# Installed headers: include/touchstone/{core,reference,order,bounds}/ as in the source tree;
# the optimized backends' and the registry's headers, which the source tree includes by their
# directory ("cpu/mamba.hpp", "builtin.hpp"), under include/touchstone/optimized and
# include/touchstone/registry, which those targets add to the include path.
set(_touchstone_libraries core reference order bounds cpu cuda registry)
foreach(layer core reference order bounds)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          COMPONENT development FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/optimized/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/touchstone/optimized COMPONENT development
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/registry/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/touchstone/registry COMPONENT development
        FILES_MATCHING PATTERN "*.hpp")

# The targets name their include directories by source path; the installed ones get the
# installed paths instead.
function(_touchstone_install_includes target build_dir install_dir)
  set_property(TARGET ${target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/${build_dir}> $<INSTALL_INTERFACE:${install_dir}>)
endfunction()
_touchstone_install_includes(touchstone_core core/include ${CMAKE_INSTALL_INCLUDEDIR})
_touchstone_install_includes(touchstone_reference reference/include ${CMAKE_INSTALL_INCLUDEDIR})
_touchstone_install_includes(touchstone_order order/include ${CMAKE_INSTALL_INCLUDEDIR})
_touchstone_install_includes(touchstone_bounds bounds/include ${CMAKE_INSTALL_INCLUDEDIR})
_touchstone_install_includes(touchstone_cpu optimized ${CMAKE_INSTALL_INCLUDEDIR}/touchstone/optimized)
_touchstone_install_includes(touchstone_cuda optimized ${CMAKE_INSTALL_INCLUDEDIR}/touchstone/optimized)
_touchstone_install_includes(touchstone_registry registry ${CMAKE_INSTALL_INCLUDEDIR}/touchstone/registry)

foreach(library IN LISTS _touchstone_libraries)
  set_target_properties(touchstone_${library} PROPERTIES EXPORT_NAME ${library})
  add_library(touchstone::${library} ALIAS touchstone_${library})
endforeach()
list(TRANSFORM _touchstone_libraries PREPEND touchstone_ OUTPUT_VARIABLE _touchstone_targets)
install(TARGETS ${_touchstone_targets} EXPORT touchstoneTargets COMPONENT development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The command line too (bin/touchstone), outside the exported targets.
install(TARGETS touchstone RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(EXPORT touchstoneTargets NAMESPACE touchstone:: DESTINATION ${_touchstone_cmake_dir}
        COMPONENT development)

set(TOUCHSTONE_INSTALLED_WITH_CUDA ${TOUCHSTONE_HAVE_CUDA})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/touchstoneConfig.cmake.in
  ${PROJECT_BINARY_DIR}/touchstoneConfig.cmake INSTALL_DESTINATION ${_touchstone_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/touchstoneConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/touchstoneConfig.cmake
              ${PROJECT_BINARY_DIR}/touchstoneConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindMPLibs.cmake
        DESTINATION ${_touchstone_cmake_dir} COMPONENT development)

# The example consumer, configured and built against an installed copy of this build tree.
if(TOUCHSTONE_TESTS AND BUILD_TESTING)
  add_test(NAME consumer_find_package
           COMMAND bash ${PROJECT_SOURCE_DIR}/examples/consumer/test.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(consumer_find_package PROPERTIES LABELS package TIMEOUT 900)
endif()
