#!/usr/bin/env bash
# Every way a project can take courier in (README, "Use it in your project"),
# each configured, built and run, with a static and with a shared courier:
#   find_package      courier installed with `cmake --install --prefix`, then
#                     test/consumer/CMakeLists.txt with CMAKE_PREFIX_PATH
#   pkg-config        the same prefix: g++ main.cpp $(pkg-config --cflags --libs courier)
#   add_subdirectory  test/consumer/add_subdirectory, on this checkout
#   FetchContent      test/consumer/fetch_content, from a tarball of this
#                     checkout (so no network)
# and the Debian package: unpacked with dpkg -x into a scratch root, then
# find_package and pkg-config against it. The consumer (main.cpp) exits
# non-zero unless its event arrived. Besides: the installed CMake package's
# version compatibility and components (package_checks/), and what the shared
# library exports and is called (its SONAME).
#
# Usage: test/consumer/run_consumer_tests.sh PACKAGE_BUILD_DIR
#   PACKAGE_BUILD_DIR: the static Release build in which `./run package` made
#   the .deb; it is also the static courier installed for find_package and
#   pkg-config. Everything else is built under build/consumer.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$PWD
package_build=$(realpath "$1")
out=$checkout/build/consumer
rm -rf "$out"
mkdir -p "$out"

# Consumer code is held to courier's own warnings.
warnings=(-Wall -Wextra -Wpedantic -Wshadow -Werror)

step() { echo "consumer: $*" >&2; }

# expect WHAT COMMAND...: fails the run, saying what was expected, unless COMMAND succeeds.
expect() {
  local what=$1
  shift
  "$@" || {
    echo "consumer: expected $what" >&2
    exit 1
  }
}

# quietly COMMAND...: runs it with its output kept back, shown if it fails.
quietly() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  ((status == 0)) || cat "$log" >&2
  rm -f "$log"
  return "$status"
}

# build_consumer SOURCE_DIR BUILD_DIR [cmake arguments...]: configures, builds
# and runs a consumer project.
build_consumer() {
  local source=$1 build=$2
  shift 2
  quietly cmake -S "$source" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS=${warnings[*]}" "$@"
  quietly cmake --build "$build" -j 2
  "$build/consumer"
}

# pkg_config_consumer PKG_CONFIG_DIR BUILD_DIR [pkg-config arguments...]:
# compiles main.cpp with the flags courier.pc gives, and runs it.
pkg_config_consumer() {
  local pc_dir=$1 build=$2
  shift 2
  local flags libdir
  flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs "$@" courier)
  libdir=$(PKG_CONFIG_PATH=$pc_dir pkg-config --variable=libdir courier)
  mkdir -p "$build"
  # shellcheck disable=SC2086 # pkg-config's output is a list of flags
  g++ -std=c++20 "${warnings[@]}" test/consumer/main.cpp -o "$build/consumer" $flags \
    "-Wl,-rpath,$libdir"
  "$build/consumer"
}

# consume_prefix PREFIX OUT: find_package and pkg-config against an installed courier.
consume_prefix() {
  local prefix=$1 kind=$2 pc_dir
  pc_dir=$(dirname "$(find "$prefix" -name courier.pc)")
  step "$kind: find_package"
  build_consumer test/consumer "$out/$kind/find_package" "-DCMAKE_PREFIX_PATH=$prefix"
  step "$kind: pkg-config"
  local static=()
  [[ $kind == shared ]] || static=(--static)
  pkg_config_consumer "$pc_dir" "$out/$kind/pkg-config" "${static[@]}"
}

version=$(sed -n 's/^project(courier VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
expect "a version in CMakeLists.txt's project()" test -n "$version"

# --- Static: the package's build, installed into a prefix. ---
step "static: cmake --install $package_build"
quietly cmake --install "$package_build" --prefix "$out/static/prefix"
consume_prefix "$out/static/prefix" static

# --- Shared: built here, with the samples (they use the API more widely). ---
step "shared: build courier with BUILD_SHARED_LIBS=ON, run the samples"
quietly cmake -S . -B "$out/shared/courier" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DBUILD_SHARED_LIBS=ON -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_SAMPLES=ON
# The NATS bridge, courier::nats, when its component is configured (libnats found).
nats_built=OFF
[[ -d $out/shared/courier/CMakeFiles/courier_nats.dir ]] && nats_built=ON
nats_target=()
[[ $nats_built == ON ]] && nats_target=(courier_nats)
quietly cmake --build "$out/shared/courier" -j 2 --target courier hello readme_example \
  "${nats_target[@]}"
quietly "$out/shared/courier/samples/hello"
quietly "$out/shared/courier/samples/readme_example"
quietly cmake --install "$out/shared/courier" --prefix "$out/shared/prefix"

step "shared: SONAME and exported names"
library=$(find "$out/shared/prefix" -name "libcourier.so.$version")
[[ $version == 0.* ]] && soname=libcourier.so.${version%.*} || soname=libcourier.so.${version%%.*}
expect "$library's SONAME to be $soname" grep -q "SONAME *$soname\$" <<<"$(objdump -p "$library")"
exported=$(nm -DC --defined-only "$library")
expect "$library to export courier::version()" grep -q ' T courier::version()$' <<<"$exported"
# Hidden visibility: lib/'s own classes (the routing trie, the per-thread
# caches) stay inside the library.
if grep -E ' courier::detail::(TopicTrie|ThreadCache|RoutingTable)::' <<<"$exported"; then
  echo "consumer: $library exports courier's internals (above)" >&2
  exit 1
fi
consume_prefix "$out/shared/prefix" shared

step "shared: the CMake package's versions and components"
quietly cmake -S test/consumer/package_checks -B "$out/package_checks" \
  "-DCMAKE_PREFIX_PATH=$out/shared/prefix" "-DCOURIER_EXPECTED_VERSION=$version" \
  "-DCOURIER_EXPECT_NATS=$nats_built"

# --- add_subdirectory and FetchContent, each static and shared. ---
step "source tarball for FetchContent"
tar -czf "$out/courier-source.tar.gz" --exclude=./build --exclude=./.git \
  --transform="s|^\\.|courier-$version|" .
for kind in static shared; do
  shared=OFF
  [[ $kind == shared ]] && shared=ON
  step "$kind: add_subdirectory"
  build_consumer test/consumer/add_subdirectory "$out/$kind/add_subdirectory" \
    "-DBUILD_SHARED_LIBS=$shared"
  step "$kind: FetchContent"
  build_consumer test/consumer/fetch_content "$out/$kind/fetch_content" \
    "-DBUILD_SHARED_LIBS=$shared" "-DCOURIER_URL=file://$out/courier-source.tar.gz"
done

# --- The Debian package, unpacked into a scratch root. ---
deb=$package_build/libcourier-dev_${version}_$(dpkg --print-architecture).deb
step "package: $(basename "$deb")"
expect "$deb (./run package makes it)" test -f "$deb"
expect "the package libcourier-dev" test "$(dpkg-deb -f "$deb" Package)" = libcourier-dev
expect "the package's version $version" test "$(dpkg-deb -f "$deb" Version)" = "$version"
expect "a dependency on one Boost's headers (libboost1.N-dev)" \
  grep -qE '^libboost1\.[0-9]+-dev$' <<<"$(dpkg-deb -f "$deb" Depends)"
contents=$(dpkg-deb -c "$deb")
if grep -q -- "/libcourier_nats.a\$" <<<"$contents"; then
  expect "the bridge's libnats suggested (Suggests: libnats-dev, pkg-config)" \
    test "$(dpkg-deb -f "$deb" Suggests)" = "libnats-dev, pkg-config"
fi
for file in usr/include/courier/courier.hpp usr/include/courier/version.hpp \
  /libcourier.a /cmake/courier/courierConfig.cmake /cmake/courier/courierConfigVersion.cmake \
  /pkgconfig/courier.pc usr/share/doc/libcourier-dev/LICENSE usr/share/doc/libcourier-dev/README.md; do
  expect "$file in the package" grep -q -- "$file\$" <<<"$contents"
done
root=$out/deb/root
mkdir -p "$root"
dpkg -x "$deb" "$root"
step "package: find_package"
build_consumer test/consumer "$out/deb/find_package" "-DCMAKE_PREFIX_PATH=$root/usr"
step "package: pkg-config"
pkg_config_consumer "$(dirname "$(find "$root" -name courier.pc)")" "$out/deb/pkg-config" --static
step "every way in works"
