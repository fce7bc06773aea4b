# The library's version header, symbol visibility and ABI version (issue 14).
# Included by CMakeLists.txt once the `courier` target exists.

# courier/version.hpp carries the project version of CMakeLists.txt, the one
# source of truth: it is generated into the build tree, and installed.
configure_file(${PROJECT_SOURCE_DIR}/include/courier/version.hpp.in
               ${PROJECT_BINARY_DIR}/include/courier/version.hpp @ONLY)
target_include_directories(courier PUBLIC $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>)

# Semantic versioning: from 1.0 on, versions with the same major version keep
# the API and the shared library's ABI; while the major version is 0 a minor
# version may break either (semver item 4), so there the minor version is part
# of the compatibility: find_package(courier 0.2) accepts 0.2.x only, and the
# shared library's SONAME is libcourier.so.0.2 (libcourier.so.1 from 1.0 on).
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(COURIER_ABI_VERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  set(COURIER_VERSION_COMPATIBILITY SameMinorVersion)
else()
  set(COURIER_ABI_VERSION ${PROJECT_VERSION_MAJOR})
  set(COURIER_VERSION_COMPATIBILITY SameMajorVersion)
endif()

# Hidden by default: a shared courier (BUILD_SHARED_LIBS=ON) exports only the
# names marked COURIER_EXPORT (include/courier/detail/export.hpp). A static
# courier is compiled the same way; the flags only keep its symbols from being
# exported again by a shared library that links it.
set_target_properties(courier PROPERTIES
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  VERSION ${PROJECT_VERSION}
  SOVERSION ${COURIER_ABI_VERSION})
