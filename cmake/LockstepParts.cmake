# lockstep_add_part: one part of the library (docs/ARCHITECTURE.md) as a static library
# lockstep_<part>, alias Lockstep::<part>, with its sources listed and the parts it depends
# on declared. Only those parts' headers are on its link interface, and the layering test
# (scripts/check_layers.py) fails when a file includes a header of a part it does not depend
# on, directly or through others.
#
# lockstep_add_part(<part> SOURCES <files...> [DEPENDS <parts...>]
#                   [CUDA_SOURCES <files...>] [NO_CUDA_SOURCES <files...>]
#                   [MPI_SOURCES <files...>] [NO_MPI_SOURCES <files...>]
#                   [PUBLIC_LIBRARIES <targets...>] [PRIVATE_LIBRARIES <targets...>])
# CUDA_SOURCES build with LOCKSTEP_WITH_CUDA and NO_CUDA_SOURCES (stand-ins that say "no
# CUDA" at run time) without it; likewise MPI_SOURCES and NO_MPI_SOURCES.
include(GNUInstallDirs)

function(lockstep_add_part part)
  cmake_parse_arguments(PARSE_ARGV 1 arg ""  ""
    "SOURCES;DEPENDS;CUDA_SOURCES;NO_CUDA_SOURCES;MPI_SOURCES;NO_MPI_SOURCES;PUBLIC_LIBRARIES;PRIVATE_LIBRARIES")
  if(NOT arg_SOURCES OR arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "lockstep_add_part(${part}): expected SOURCES <files...>, found ${ARGN}")
  endif()
  set(sources ${arg_SOURCES})
  if(LOCKSTEP_WITH_CUDA)
    list(APPEND sources ${arg_CUDA_SOURCES})
  else()
    list(APPEND sources ${arg_NO_CUDA_SOURCES})
  endif()
  if(LOCKSTEP_WITH_MPI)
    list(APPEND sources ${arg_MPI_SOURCES})
  else()
    list(APPEND sources ${arg_NO_MPI_SOURCES})
  endif()

  set(target lockstep_${part})
  add_library(${target} STATIC ${sources})
  add_library(Lockstep::${part} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${part} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  foreach(dependency IN LISTS arg_DEPENDS)
    target_link_libraries(${target} PUBLIC lockstep_${dependency})
  endforeach()
  target_link_libraries(${target}
    PUBLIC ${arg_PUBLIC_LIBRARIES} $<BUILD_INTERFACE:lockstep_sanitizers>
    PRIVATE ${arg_PRIVATE_LIBRARIES} $<BUILD_INTERFACE:lockstep_warnings>)
  # sqrt never sets errno, so the optimizer loops (Adam, RMSprop) vectorise; results are the
  # same. Kernels keep host and device code in one file; -lineinfo keeps profiles readable.
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-fno-math-errno>
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo -Xcompiler=-Wall,-Wextra>)

  set_property(GLOBAL APPEND PROPERTY LOCKSTEP_PARTS ${part})
  set_property(GLOBAL PROPERTY LOCKSTEP_PART_DEPENDS_${part} "${arg_DEPENDS}")
endfunction()

# Writes <file> with one line per part, "<part>: <parts it depends on>", for the layering test.
function(lockstep_write_part_graph file)
  get_property(parts GLOBAL PROPERTY LOCKSTEP_PARTS)
  set(text "# Lockstep's parts and the parts each depends on (written by CMake).\n")
  foreach(part IN LISTS parts)
    get_property(dependencies GLOBAL PROPERTY LOCKSTEP_PART_DEPENDS_${part})
    string(REPLACE ";" " " dependencies "${dependencies}")
    string(APPEND text "${part}: ${dependencies}\n")
  endforeach()
  file(WRITE ${file} "${text}")
endfunction()
