// The dss entries of the registry.
#include "builtin.hpp"

namespace touchstone {

void register_dss(Registry&) {}

}  // namespace touchstone
