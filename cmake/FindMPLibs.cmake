# Finds the GNU multiple-precision stack the reference is built on: GMP, MPFR, MPC, MPFI.
# Debian ships no CMake config for them, so we look for header + library and export
# imported targets MP::GMP, MP::MPFR, MP::MPC, MP::MPFI.
include(FindPackageHandleStandardArgs)
function(_touchstone_find_mp name header lib)
  find_path(${name}_INCLUDE_DIR ${header})
  find_library(${name}_LIBRARY ${lib})
  find_package_handle_standard_args(${name} REQUIRED_VARS ${name}_LIBRARY ${name}_INCLUDE_DIR
                                    NAME_MISMATCHED)
  if(${name}_FOUND AND NOT TARGET MP::${name})
    add_library(MP::${name} UNKNOWN IMPORTED)
    set_target_properties(MP::${name} PROPERTIES
      IMPORTED_LOCATION "${${name}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${${name}_INCLUDE_DIR}")
  endif()
  set(${name}_FOUND ${${name}_FOUND} PARENT_SCOPE)
endfunction()
_touchstone_find_mp(GMP gmp.h gmp)
_touchstone_find_mp(MPFR mpfr.h mpfr)
_touchstone_find_mp(MPC mpc.h mpc)
_touchstone_find_mp(MPFI mpfi.h mpfi)
if(NOT (GMP_FOUND AND MPFR_FOUND AND MPC_FOUND AND MPFI_FOUND))
  message(FATAL_ERROR "GMP/MPFR/MPC/MPFI not found: run scripts/setup.sh (installs scripts/debian-packages.txt)")
endif()
set_property(TARGET MP::MPFR APPEND PROPERTY INTERFACE_LINK_LIBRARIES MP::GMP)
set_property(TARGET MP::MPC APPEND PROPERTY INTERFACE_LINK_LIBRARIES MP::MPFR)
set_property(TARGET MP::MPFI APPEND PROPERTY INTERFACE_LINK_LIBRARIES MP::MPFR)

# Random123 is header-only.
find_path(Random123_INCLUDE_DIR Random123/philox.h)
find_package_handle_standard_args(Random123 REQUIRED_VARS Random123_INCLUDE_DIR NAME_MISMATCHED)
if(Random123_FOUND AND NOT TARGET Random123::Random123)
  add_library(Random123::Random123 INTERFACE IMPORTED)
  set_target_properties(Random123::Random123 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Random123_INCLUDE_DIR}")
endif()
