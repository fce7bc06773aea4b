# The Debian package libcourier-dev (CPack's DEB generator): what
# `cmake --install` installs, under /usr. `./run package` configures a Release
# build with the prefix /usr and the documentation directory
# share/doc/libcourier-dev, then runs cpack: build/package/libcourier-dev_<version>_amd64.deb.
#
# One development package, as for a header-mostly library: the static library
# with the headers (a shared library would belong in a runtime package of its
# own, libcourier0.2, as Debian splits them).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libcourier-dev)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the courier authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "in-process event bus for multithreaded C++20 programs")
set(CPACK_PACKAGE_DESCRIPTION
    "courier delivers Event<T>s posted on dot-separated topics to the subscribers of matching\
 topic patterns, on a fixed pool of executor threads or on the posting thread. This package\
 holds the headers, the static library, and the CMake (find_package) and pkg-config files.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR})

set(COURIER_PACKAGE_MAINTAINER "the courier authors" CACHE STRING
    "The Maintainer field of the Debian package")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${COURIER_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # libcourier-dev_<version>_<architecture>.deb
# The Boost that the library was built with, no other minor version: the
# headers hold Boost.Asio and Boost.Signals2 objects (see courierConfig.cmake.in).
# Debian names each minor version's headers package (libboost1.81-dev).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libboost${courier_boost_version}-dev")
# The NATS bridge, when built, ships in this package too (libcourier_nats.a,
# courier/nats/); only a program that links courier::nats needs libnats, which
# courierConfig.cmake finds with pkg-config. So it is suggested, not required.
if(COURIER_WITH_NATS)
  set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libnats-dev, pkg-config")
endif()

include(CPack)
