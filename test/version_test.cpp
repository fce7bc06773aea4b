// courier/version.hpp and courier::version(): one version, CMake's.
#include "courier/version.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Version, LibraryReportsTheVersionOfItsHeaders) {
  EXPECT_EQ(courier::version(), COURIER_VERSION_STRING);
}

TEST(Version, NumbersSpellTheString) {
  const std::string spelled = std::to_string(COURIER_VERSION_MAJOR) + "." +
                              std::to_string(COURIER_VERSION_MINOR) + "." +
                              std::to_string(COURIER_VERSION_PATCH);
  EXPECT_EQ(spelled, courier::version());
  EXPECT_EQ(COURIER_VERSION,
            COURIER_VERSION_MAJOR * 10000 + COURIER_VERSION_MINOR * 100 + COURIER_VERSION_PATCH);
}

// COURIER_PROJECT_VERSION: the version in project() of CMakeLists.txt, passed
// by test/CMakeLists.txt.
TEST(Version, IsTheProjectVersion) { EXPECT_EQ(courier::version(), COURIER_PROJECT_VERSION); }

}  // namespace
