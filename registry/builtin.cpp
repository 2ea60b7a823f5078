#include "builtin.hpp"

namespace touchstone {

const Registry& builtin_registry() {
  static const Registry registry = [] {
    Registry r;
    register_mamba(r);
    return r;
  }();
  return registry;
}

}  // namespace touchstone
