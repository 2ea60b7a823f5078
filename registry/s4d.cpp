// The s4d entries of the registry.
#include "builtin.hpp"

namespace touchstone {

void register_s4d(Registry&) {}

}  // namespace touchstone
