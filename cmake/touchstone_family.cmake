# touchstone_family(NAME [SOURCES file...] [CPU_LINK lib...] [CUDA_LINK lib...]
#                   [COMPILE_OPTIONS file option [file option ...]])
#
# Declares an algorithm family (DESIGN.md, "Layers and layout"): one line in CMakeLists.txt is all
# a new family adds to the shared build files. A family is the same file names in every layer:
# its sources are the files named NAME.<ext> or NAME_<part>.<ext> in
#   reference/src/*.cpp   -> touchstone_reference   (the oracles' instantiations)
#   optimized/cpu/*.cpp   -> touchstone_cpu
#   optimized/cuda/*.cu   -> touchstone_cuda         (only when CUDA is built)
#   bounds/src/*.cpp      -> touchstone_bounds       (per-backend and any-order bounds)
#   registry/*.cpp        -> touchstone_registry
# A file belongs to the family with the longest such name: mamba_block_bound.cpp is mamba_block's,
# mamba_bound.cpp mamba's, s4_cauchy.cu s4's (there is no family s4_cauchy), s4_conv.cu s4_conv's.
#
# Arguments, for what the naming convention does not say:
#   SOURCES          files (relative to the project root) of the family that do not carry its
#                    name, added to their layer's library (e.g. a helper shared by its parts)
#   CPU_LINK         libraries touchstone_cpu links (PUBLIC) for this family
#   CUDA_LINK        libraries touchstone_cuda links (PRIVATE) for this family, with CUDA only
#   COMPILE_OPTIONS  pairs <file> <option>: a compile option for one source file of the family
#
# The files are assigned once every family is declared (a call deferred to the end of the top
# directory), so declarations may come in any order. Every source file of the five directories
# must then belong to exactly one family or be listed by its library itself (the shared ones,
# such as registry/builtin.cpp): a file that nothing builds is a configure error.
include_guard(GLOBAL)

function(touchstone_family name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;CPU_LINK;CUDA_LINK;COMPILE_OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "touchstone_family(${name}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "touchstone_family(${name}): a family name is [a-z][a-z0-9_]*")
  endif()
  list(LENGTH arg_COMPILE_OPTIONS n_options)
  math(EXPR odd "${n_options} % 2")
  if(odd)
    message(FATAL_ERROR "touchstone_family(${name}): COMPILE_OPTIONS takes <file> <option> pairs")
  endif()
  get_property(families GLOBAL PROPERTY TOUCHSTONE_FAMILIES)
  if(name IN_LIST families)
    message(FATAL_ERROR "touchstone_family(${name}) is declared twice")
  endif()
  if(NOT families)
    cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _touchstone_assign_families)
  endif()
  set_property(GLOBAL APPEND PROPERTY TOUCHSTONE_FAMILIES ${name})
  foreach(key SOURCES CPU_LINK CUDA_LINK COMPILE_OPTIONS)
    set_property(GLOBAL PROPERTY TOUCHSTONE_FAMILY_${name}_${key} "${arg_${key}}")
  endforeach()
endfunction()

# The layers: directory, extension, library.
set(_TOUCHSTONE_FAMILY_LAYERS
  "reference/src;cpp;touchstone_reference"
  "optimized/cpu;cpp;touchstone_cpu"
  "optimized/cuda;cu;touchstone_cuda"
  "bounds/src;cpp;touchstone_bounds"
  "registry;cpp;touchstone_registry")

# The library of a file (absolute path) in one of the layers' directories, or "" if none.
function(_touchstone_layer_of file out)
  set(result "")
  foreach(i RANGE 0 4)
    math(EXPR at "${i} * 3")
    list(SUBLIST _TOUCHSTONE_FAMILY_LAYERS ${at} 3 layer)
    list(GET layer 0 dir)
    list(GET layer 2 target)
    get_filename_component(parent "${file}" DIRECTORY)
    if(parent STREQUAL "${PROJECT_SOURCE_DIR}/${dir}")
      set(result ${target})
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# The family with the longest name that is the file's stem or a prefix of it followed by "_".
function(_touchstone_owner stem families out)
  set(best "")
  set(best_length 0)
  foreach(family IN LISTS families)
    if(stem STREQUAL family OR stem MATCHES "^${family}_")
      string(LENGTH "${family}" length)
      if(length GREATER best_length)
        set(best ${family})
        set(best_length ${length})
      endif()
    endif()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

function(_touchstone_assign_families)
  get_property(families GLOBAL PROPERTY TOUCHSTONE_FAMILIES)
  foreach(family IN LISTS families)
    set(count_${family} 0)
  endforeach()
  foreach(i RANGE 0 4)
    math(EXPR at "${i} * 3")
    list(SUBLIST _TOUCHSTONE_FAMILY_LAYERS ${at} 3 layer)
    list(GET layer 0 dir)
    list(GET layer 1 ext)
    list(GET layer 2 target)
    if(target STREQUAL "touchstone_cuda" AND NOT TOUCHSTONE_HAVE_CUDA)
      continue()
    endif()
    # The shared sources that the library lists itself.
    get_target_property(listed ${target} SOURCES)
    set(shared "")
    foreach(source IN LISTS listed)
      get_filename_component(source "${source}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
      list(APPEND shared "${source}")
    endforeach()
    # The family sources given by name.
    set(extra "")
    foreach(family IN LISTS families)
      get_property(sources GLOBAL PROPERTY TOUCHSTONE_FAMILY_${family}_SOURCES)
      foreach(source IN LISTS sources)
        get_filename_component(source "${source}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
        if(NOT EXISTS "${source}")
          message(FATAL_ERROR "touchstone_family(${family}): SOURCES ${source} does not exist")
        endif()
        _touchstone_layer_of("${source}" source_target)
        if(source_target STREQUAL target)
          list(APPEND extra "${source}")
          target_sources(${target} PRIVATE "${source}")
          math(EXPR count_${family} "${count_${family}} + 1")
        endif()
      endforeach()
    endforeach()
    file(GLOB files CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${dir}/*.${ext}")
    foreach(file IN LISTS files)
      if(file IN_LIST shared OR file IN_LIST extra)
        continue()
      endif()
      get_filename_component(stem "${file}" NAME_WE)
      _touchstone_owner("${stem}" "${families}" owner)
      if(NOT owner)
        message(FATAL_ERROR "${file} belongs to no family: name it <family>_<part>.${ext} after "
                            "a touchstone_family(), or list it in ${target}'s sources")
      endif()
      target_sources(${target} PRIVATE "${file}")
      math(EXPR count_${owner} "${count_${owner}} + 1")
    endforeach()
  endforeach()

  foreach(family IN LISTS families)
    if(count_${family} EQUAL 0)
      message(FATAL_ERROR "touchstone_family(${family}): no file of any layer is named ${family}*")
    endif()
    get_property(libraries GLOBAL PROPERTY TOUCHSTONE_FAMILY_${family}_CPU_LINK)
    if(libraries)
      target_link_libraries(touchstone_cpu PUBLIC ${libraries})
    endif()
    get_property(libraries GLOBAL PROPERTY TOUCHSTONE_FAMILY_${family}_CUDA_LINK)
    if(libraries AND TOUCHSTONE_HAVE_CUDA)
      target_link_libraries(touchstone_cuda PRIVATE ${libraries})
    endif()
    get_property(options GLOBAL PROPERTY TOUCHSTONE_FAMILY_${family}_COMPILE_OPTIONS)
    list(LENGTH options n_options)
    if(n_options GREATER 0)
      math(EXPR last "${n_options} - 1")
      foreach(i RANGE 0 ${last} 2)
        math(EXPR j "${i} + 1")
        list(GET options ${i} file)
        list(GET options ${j} option)
        get_filename_component(file "${file}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
        set_property(SOURCE "${file}" APPEND PROPERTY COMPILE_OPTIONS "${option}")
      endforeach()
    endif()
  endforeach()
endfunction()
