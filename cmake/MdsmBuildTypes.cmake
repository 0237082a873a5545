# Build types: Debug, Release, RelWithDebInfo and Asan (AddressSanitizer + UBSan).
set(_mdsm_types Debug Release RelWithDebInfo Asan)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()
set_property(CACHE CMAKE_BUILD_TYPE PROPERTY STRINGS ${_mdsm_types})
if(CMAKE_BUILD_TYPE AND NOT CMAKE_BUILD_TYPE IN_LIST _mdsm_types)
  message(FATAL_ERROR "Unknown CMAKE_BUILD_TYPE '${CMAKE_BUILD_TYPE}'; use one of ${_mdsm_types}")
endif()

set(_asan_flags "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined")
foreach(lang C CXX)
  set(CMAKE_${lang}_FLAGS_ASAN "-O1 -g ${_asan_flags}" CACHE STRING "" FORCE)
endforeach()
set(CMAKE_EXE_LINKER_FLAGS_ASAN "${_asan_flags}" CACHE STRING "" FORCE)
set(CMAKE_SHARED_LINKER_FLAGS_ASAN "${_asan_flags}" CACHE STRING "" FORCE)
mark_as_advanced(CMAKE_C_FLAGS_ASAN CMAKE_CXX_FLAGS_ASAN
                 CMAKE_EXE_LINKER_FLAGS_ASAN CMAKE_SHARED_LINKER_FLAGS_ASAN)
