// SLiM's layer on the CPU, float32 and float64 (spec/performer.md [PERF-SLIM-CPU]): the sequence
// order::slim_layer_vjp of order/performer_order.hpp on native floats (every operation rounded
// once, sums in the order written there), on one thread. With p.slice() > 0 it holds the rows of
// one slice and the final prefix state only (O(slice) memory beyond the inputs and outputs).
#pragma once

#include "touchstone/reference/performer_slim.hpp"

namespace touchstone::performer::cpu {

Tensor<float> slim_layer(const SlimLayerForwardProblem<float>& p);
Tensor<double> slim_layer(const SlimLayerForwardProblem<double>& p);
SlimLayerGrads<float> slim_layer_vjp(const SlimLayerProblem<float>& p);
SlimLayerGrads<double> slim_layer_vjp(const SlimLayerProblem<double>& p);

}  // namespace touchstone::performer::cpu
