// The s4_conv entries of the registry.
#include "builtin.hpp"

namespace touchstone {

void register_s4_conv(Registry&) {}

}  // namespace touchstone
