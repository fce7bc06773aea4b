# `cmake --install`: headers, the library, a CMake package (find_package) and a
# pkg-config file. The Debian package is cmake/package.cmake.
#
#   <prefix>/include/courier/...                         the headers, version.hpp included
#   <prefix>/<libdir>/libcourier.a (or .so.*)            the library
#   <prefix>/<libdir>/cmake/courier/courierConfig.cmake  find_package(courier 0.2 CONFIG)
#                                   courierConfigVersion.cmake, courierTargets*.cmake
#   <prefix>/<libdir>/pkgconfig/courier.pc               pkg-config --cflags --libs courier
#   <prefix>/share/doc/courier/                          README.md, CHANGELOG.md, LICENSE
#
# <libdir> is GNUInstallDirs' CMAKE_INSTALL_LIBDIR: lib, or lib/<multiarch> for
# the prefix /usr on Debian.
option(COURIER_INSTALL "Generate courier's install rules" ${COURIER_TOP_LEVEL})
if(NOT COURIER_INSTALL)
  return()
endif()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(courier_config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/courier)

install(TARGETS courier EXPORT courierTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The NATS bridge's headers go with its component (cmake/nats.cmake).
install(DIRECTORY include/courier DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp" PATTERN nats EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/include/courier/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/courier)

# find_package(courier 0.2 CONFIG REQUIRED), then link courier::courier.
install(EXPORT courierTargets NAMESPACE courier:: DESTINATION ${courier_config_dir})
set(courier_boost_version ${Boost_VERSION_MAJOR}.${Boost_VERSION_MINOR})
configure_package_config_file(cmake/courierConfig.cmake.in
  ${PROJECT_BINARY_DIR}/courierConfig.cmake INSTALL_DESTINATION ${courier_config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/courierConfigVersion.cmake
  COMPATIBILITY ${COURIER_VERSION_COMPATIBILITY})  # see cmake/library.cmake
install(FILES ${PROJECT_BINARY_DIR}/courierConfig.cmake
  ${PROJECT_BINARY_DIR}/courierConfigVersion.cmake DESTINATION ${courier_config_dir})

# courier.pc, relocatable: its prefix is found from where the file is
# (${pcfiledir}), so that `cmake --install build --prefix P` and a package
# unpacked anywhere (dpkg -x) both give a file that points at its own headers.
# The public headers' inline code starts threads (Asio's thread_pool), so
# every consumer needs -pthread, static or shared: it is in Cflags and Libs,
# not Libs.private. Boost is headers only; its directory is named unless it is
# the compiler's own /usr/include.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    message(FATAL_ERROR "courier.pc needs a relative CMAKE_INSTALL_${dir}, not ${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
file(RELATIVE_PATH courier_pc_to_prefix /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" courier_pc_to_prefix "${courier_pc_to_prefix}")
set(courier_pc_boost_cflags "")
foreach(dir IN LISTS Boost_INCLUDE_DIRS)
  if(NOT dir STREQUAL "/usr/include")
    string(APPEND courier_pc_boost_cflags " -I${dir}")
  endif()
endforeach()
configure_file(cmake/courier.pc.in ${PROJECT_BINARY_DIR}/courier.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/courier.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES README.md CHANGELOG.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
