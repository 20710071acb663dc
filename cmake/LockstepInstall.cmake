# cmake --install: the public headers, every part's library, and a CMake package, so that a
# program can say find_package(Lockstep) and link Lockstep::lockstep (or single parts, such
# as Lockstep::nn). The package finds Lockstep's own dependencies (MPI, CUDA, BLAS, ...).
include(CMakePackageConfigHelpers)

set(LOCKSTEP_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Lockstep)

get_property(lockstep_parts GLOBAL PROPERTY LOCKSTEP_PARTS)
list(TRANSFORM lockstep_parts PREPEND lockstep_ OUTPUT_VARIABLE lockstep_part_targets)
install(TARGETS ${lockstep_part_targets} lockstep EXPORT LockstepTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/lockstep
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT LockstepTargets NAMESPACE Lockstep:: DESTINATION ${LOCKSTEP_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/LockstepConfig.cmake.in
  ${PROJECT_BINARY_DIR}/LockstepConfig.cmake INSTALL_DESTINATION ${LOCKSTEP_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/LockstepConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/LockstepConfig.cmake
              ${PROJECT_BINARY_DIR}/LockstepConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindNCCL.cmake
        DESTINATION ${LOCKSTEP_INSTALL_CMAKEDIR})
