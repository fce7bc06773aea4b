// courier::version() (version.hpp): compiled into the library, so that it
// reports the version of the library, not of the headers a program used.
#include "courier/version.hpp"

namespace courier {

std::string_view version() noexcept { return COURIER_VERSION_STRING; }

}  // namespace courier
