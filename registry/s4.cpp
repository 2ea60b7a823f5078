// The s4 entries of the registry.
#include "builtin.hpp"

namespace touchstone {

void register_s4(Registry&) {}

}  // namespace touchstone
