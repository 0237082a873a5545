# Finds PAPI and its software-defined-events library (libsde, which has no .pc file).
# Provides the imported targets PAPI::papi and PAPI::sde.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_PAPI QUIET papi)
endif()
find_path(PAPI_INCLUDE_DIR papi.h HINTS ${PC_PAPI_INCLUDE_DIRS})
find_path(PAPI_SDE_INCLUDE_DIR sde_lib.h HINTS ${PC_PAPI_INCLUDE_DIRS})
find_library(PAPI_LIBRARY NAMES papi HINTS ${PC_PAPI_LIBRARY_DIRS})
find_library(PAPI_SDE_LIBRARY NAMES sde HINTS ${PC_PAPI_LIBRARY_DIRS})
set(PAPI_VERSION "${PC_PAPI_VERSION}")

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(PAPI
  REQUIRED_VARS PAPI_LIBRARY PAPI_INCLUDE_DIR PAPI_SDE_LIBRARY PAPI_SDE_INCLUDE_DIR
  VERSION_VAR PAPI_VERSION)

if(PAPI_FOUND AND NOT TARGET PAPI::papi)
  add_library(PAPI::papi UNKNOWN IMPORTED)
  set_target_properties(PAPI::papi PROPERTIES
    IMPORTED_LOCATION "${PAPI_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${PAPI_INCLUDE_DIR}")
  add_library(PAPI::sde UNKNOWN IMPORTED)
  set_target_properties(PAPI::sde PROPERTIES
    IMPORTED_LOCATION "${PAPI_SDE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${PAPI_SDE_INCLUDE_DIR}")
endif()
mark_as_advanced(PAPI_INCLUDE_DIR PAPI_SDE_INCLUDE_DIR PAPI_LIBRARY PAPI_SDE_LIBRARY)
