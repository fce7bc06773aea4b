# The NATS bridge (issue 17): the optional component courier::nats, in its own
# target courier_nats, built from lib/nats/ against libnats. libnats is found
# through pkg-config: Debian's CMake config for it refers to a static library
# that libnats-dev does not ship.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(LIBNATS QUIET IMPORTED_TARGET libnats)
endif()
set(courier_nats_default OFF)
if(LIBNATS_FOUND)
  set(courier_nats_default ON)
endif()
option(COURIER_WITH_NATS "Build the NATS bridge, courier::nats (needs libnats)" ${courier_nats_default})
if(NOT COURIER_WITH_NATS)
  if(NOT LIBNATS_FOUND)
    message(STATUS "courier: libnats not found (pkg-config libnats): the NATS bridge is not built")
  endif()
  return()
endif()
if(NOT LIBNATS_FOUND)
  message(FATAL_ERROR "COURIER_WITH_NATS is ON but pkg-config finds no libnats (Debian: libnats-dev)")
endif()

add_library(courier_nats lib/nats/link.cpp lib/nats/resender.cpp)
add_library(courier::nats ALIAS courier_nats)
set_target_properties(courier_nats PROPERTIES EXPORT_NAME nats)
target_link_libraries(courier_nats PUBLIC courier::courier
                      PRIVATE PkgConfig::LIBNATS $<BUILD_INTERFACE:courier_warnings>)

# Installed as a component: find_package(courier CONFIG REQUIRED COMPONENTS nats),
# then link courier::nats (courierConfig.cmake finds libnats with pkg-config).
if(COURIER_INSTALL)
  install(TARGETS courier_nats EXPORT courier_natsTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY include/courier/nats DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/courier
    FILES_MATCHING PATTERN "*.hpp")
  install(EXPORT courier_natsTargets NAMESPACE courier:: DESTINATION ${courier_config_dir})
endif()
