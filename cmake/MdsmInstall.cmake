# `cmake --install`: the library (with its SONAME links), the public headers,
# mdsm-info, the CMake package (find_package(mdsm) -> mdsm::mdsm) and mdsm.pc.
include(CMakePackageConfigHelpers)
set(MDSM_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/mdsm")

install(TARGETS mdsm mdsm-info EXPORT mdsmTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  PUBLIC_HEADER DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT mdsmTargets NAMESPACE mdsm:: DESTINATION "${MDSM_CMAKE_DIR}")

configure_package_config_file(cmake/mdsmConfig.cmake.in "${PROJECT_BINARY_DIR}/mdsmConfig.cmake"
  INSTALL_DESTINATION "${MDSM_CMAKE_DIR}")
# Before 1.0 the API may change between minor versions.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/mdsmConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/mdsmConfig.cmake" "${PROJECT_BINARY_DIR}/mdsmConfigVersion.cmake"
  DESTINATION "${MDSM_CMAKE_DIR}")

# mdsm.pc names the prefix the files are installed under, which `cmake --install
# --prefix` may change after configuring: the prefix is filled in at install time.
set(MDSM_PC_PREFIX "@MDSM_PC_PREFIX@")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(MDSM_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(MDSM_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(cmake/mdsm.pc.in "${PROJECT_BINARY_DIR}/mdsm.pc.in" @ONLY)
install(CODE "
  set(MDSM_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/mdsm.pc.in\" \"${PROJECT_BINARY_DIR}/mdsm.pc\" @ONLY)
  file(INSTALL \"${PROJECT_BINARY_DIR}/mdsm.pc\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")")
