#include "builtin.hpp"

namespace touchstone {

const Registry& builtin_registry() {
  static const Registry registry = [] {
    Registry r;
    register_mamba(r);
    register_mamba_complex(r);
    register_mamba_block(r);
    register_s4(r);
    register_s4d(r);
    register_dss(r);
    register_s4_conv(r);
    register_performer(r);
    register_orthogonal(r);
    register_bilevel(r);
    return r;
  }();
  return registry;
}

}  // namespace touchstone
