// SLiM's layer on the CPU: order::slim_layer_vjp on native floats.
#include "performer_slim.hpp"

#include <cmath>

#include "performer_arithmetic.hpp"
#include "touchstone/order/performer_order.hpp"

namespace touchstone::performer::cpu {
namespace {

// The family's policy on T (performer_arithmetic.hpp).
template <class T>
using SlimArithmetic = PerformerArithmetic<T>;

template <class T, class In>
struct Reader {
  const In& in;
  double x(Index i, Index d) const { return static_cast<double>(in.x(i, d)); }
  double w_q(Index d, Index e) const { return static_cast<double>(in.w_q(d, e)); }
  double w_k(Index d, Index e) const { return static_cast<double>(in.w_k(d, e)); }
  double w_v(Index d, Index e) const { return static_cast<double>(in.w_v(d, e)); }
  double w(Index j, Index e) const { return static_cast<double>((*in.projection)(j, e)); }
  double w_o(Index e, Index d) const { return static_cast<double>(in.w_o(e, d)); }
  double dy(Index i, Index d) const { return static_cast<double>(in.dy(i, d)); }
};

template <class T>
struct Writer {
  SlimLayerGrads<T>& g;
  void dx(Index i, Index d, T v) { g.dx(i, d) = v; }
  void dw_q(Index d, Index e, T v) { g.dw_q(d, e) = v; }
  void dw_k(Index d, Index e, T v) { g.dw_k(d, e) = v; }
  void dw_v(Index d, Index e, T v) { g.dw_v(d, e) = v; }
  void dw_o(Index e, Index d, T v) { g.dw_o(e, d) = v; }
};

template <class T>
SlimLayerGrads<T> slim_layer_vjp_t(const SlimLayerProblem<T>& p) {
  const Index L = p.seqlen(), D = p.d_model(), Dh = p.d_head();
  SlimLayerGrads<T> g{Tensor<T>(Shape{L, D}), Tensor<T>(Shape{D, Dh}), Tensor<T>(Shape{D, Dh}), Tensor<T>(Shape{D, Dh}),
                      Tensor<T>(Shape{Dh, D})};
  SlimArithmetic<T> ar;
  Writer<T> out{g};
  const order::SlimLayerShape shape{L, D, Dh, p.features(), p.projected(), p.in().kernel, p.in().kernel_eps,
                                    p.slice(), p.subtraction()};
  order::slim_layer_vjp(ar, Reader<T, SlimLayerInputs<T>>{p.in()}, shape, out);
  return g;
}

template <class T>
Tensor<T> slim_layer_t(const SlimLayerForwardProblem<T>& p) {
  Tensor<T> y(Shape{p.seqlen(), p.d_model()});
  struct Sink {
    Tensor<T>* t;
    void y(Index i, Index d, T v) { (*t)(i, d) = v; }
  } out{&y};
  SlimArithmetic<T> ar;
  const order::SlimLayerShape shape{p.seqlen(), p.d_model(), p.d_head(), p.features(), p.projected(), p.in().kernel,
                                    p.in().kernel_eps, 0, false};
  order::slim_layer_forward(ar, Reader<T, SlimLayerForwardInputs<T>>{p.in()}, shape, out);
  return y;
}

}  // namespace

Tensor<float> slim_layer(const SlimLayerForwardProblem<float>& p) { return slim_layer_t(p); }
Tensor<double> slim_layer(const SlimLayerForwardProblem<double>& p) { return slim_layer_t(p); }
SlimLayerGrads<float> slim_layer_vjp(const SlimLayerProblem<float>& p) { return slim_layer_vjp_t(p); }
SlimLayerGrads<double> slim_layer_vjp(const SlimLayerProblem<double>& p) { return slim_layer_vjp_t(p); }

}  // namespace touchstone::performer::cpu
