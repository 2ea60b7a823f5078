// The one translation unit that instantiates SLiM's layer oracles (reference/performer_slim.hpp).
#include "touchstone/reference/performer_slim.hpp"

namespace touchstone::performer::reference {
template Tensor<mp_real> slim_layer<mp_real>(const SlimLayerForwardProblem<double>&);
template Tensor<double> slim_layer<double>(const SlimLayerForwardProblem<double>&);
template SlimLayerGrads<mp_real> slim_layer_vjp<mp_real>(const SlimLayerProblem<double>&);
template SlimLayerGrads<double> slim_layer_vjp<double>(const SlimLayerProblem<double>&);
}  // namespace touchstone::performer::reference
