// The cold paths of Event's argument types (event.hpp).
#include "courier/event.hpp"

#include <stdexcept>

namespace courier::detail {

const char* KeyArgument::reject_null_key() {
  throw std::invalid_argument("courier: an ordering key must not be a null pointer");
}

}  // namespace courier::detail
