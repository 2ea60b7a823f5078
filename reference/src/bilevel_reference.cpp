// The one translation unit that instantiates the bilevel oracles (reference/bilevel.hpp).
#include "touchstone/reference/bilevel.hpp"

namespace touchstone::bilevel::reference {
TOUCHSTONE_BILEVEL_REFERENCE(template)
}  // namespace touchstone::bilevel::reference
