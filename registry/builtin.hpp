// The registry of every algorithm touchstone ships (spec/core.md [CORE-REGISTRY]).
#pragma once

#include "touchstone/core/registry.hpp"

namespace touchstone {

const Registry& builtin_registry();

// One function per family adds its algorithms.
void register_mamba(Registry& registry);
void register_mamba_complex(Registry& registry);
void register_mamba_block(Registry& registry);  // registry/mamba_block.cpp
void register_s4(Registry& registry);           // registry/s4.cpp: HiPPO-DPLR kernels, Cauchy
void register_s4d(Registry& registry);          // registry/s4d.cpp: S4D Vandermonde kernels
void register_dss(Registry& registry);          // registry/dss.cpp: DSS kernels
void register_s4_conv(Registry& registry);      // registry/s4_conv.cpp: convolution, scan
void register_performer(Registry& registry);    // registry/performer.cpp: attention, FAVOR+
void register_orthogonal(Registry& registry);   // registry/orthogonal.cpp: Householder, CWY, T-CWY
void register_bilevel(Registry& registry);      // registry/bilevel.cpp: hypergradients, FOM, UFOM

}  // namespace touchstone
