// s4.cauchy and s4.cauchy_backward: the backends against the oracle and their bounds, the
// conjugate-pair conventions, the VJP oracle against an independent JVP, NaN and invalid inputs,
// and the CUDA kernel's arithmetic under host emulation (spec/s4.md).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>

#include "cpu/s4.hpp"
#include "cuda/s4_cauchy.hpp"
#include "cuda/s4_cauchy_kernels.cuh"
#include "s4_support.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4.hpp"
#include "touchstone/bounds/s4_bound.hpp"

namespace touchstone::s4 {
namespace {

using testing::judge_backend;

// covers: S4-CAUCHY-DEF S4-CAUCHY-BOUND S4-CAUCHY-CPU S4-CAUCHY-DEFAULTS S4-CAUCHY-VJP S4-CAUCHY-VJP-BOUND
TEST(S4Cauchy, RegistryBackendsWithinBound) {
  const Registry& reg = builtin_registry();
  for (const char* name : {"s4.cauchy", "s4.cauchy_backward"}) {
    const Algorithm& a = reg.get(name);
    for (const BackendSpec& b : a.backends()) {
      if (!b.unavailable_reason().empty()) continue;
      double worst = 0;
      for (const std::string& size : a.sizes()) {
        const auto p = a.generate(size, b.format, 7);
        const ExactArrays exact = a.reference(*p, 256);
        worst = std::max(worst, judge_backend(a, b, *p, exact, size));
      }
      EXPECT_GT(worst, kVacuousRatio) << name << " " << b.name;
    }
  }
}

CauchyProblem random_cauchy(Index H, Index N, Index L, Conj conj, std::uint64_t seed, Format f) {
  PhiloxStream r(seed, "test/cauchy");
  CauchyInputs p;
  p.H = H, p.N = N, p.L = L, p.conj = conj;
  auto c = [&](double re, double im) { return cdouble(round_to_format(re, f), round_to_format(im, f)); };
  for (Index l = 0; l < L; ++l) {
    const double x = r.next_normal();
    p.z.push_back(c(std::cos(x), std::sin(x)));
  }
  for (Index i = 0; i < H * N; ++i) {
    p.v.push_back(c(r.next_normal(), r.next_normal()));
    p.w.push_back(c(-r.next_uniform(0.05, 1), r.next_normal()));
  }
  return CauchyProblem(std::move(p));
}

// [S4-CONJ] halves of (v, w) equals full of ([v, conj v], [w, conj w]): the oracles agree to the
// working precision and both backends stay within their bounds on both forms.
// covers: S4-CONJ
TEST(S4Cauchy, HalvesEqualsFullOfConjugates) {
  WorkingPrecision wp(256);
  const CauchyProblem h = random_cauchy(2, 5, 9, Conj::halves, 3, Format::float32);
  CauchyInputs fi = h.in();
  fi.conj = Conj::full;
  fi.N = 2 * h.N;
  fi.v.clear();
  fi.w.clear();
  for (Index k = 0; k < h.H; ++k) {
    for (Index n = 0; n < h.N; ++n) fi.v.push_back(h.vv(k, n)), fi.w.push_back(h.ww(k, n));
    for (Index n = 0; n < h.N; ++n) fi.v.push_back(std::conj(h.vv(k, n))), fi.w.push_back(std::conj(h.ww(k, n)));
  }
  const CauchyProblem f(fi);
  const auto a = reference::cauchy<mp_real, mp_complex>(h).values(), b = reference::cauchy<mp_real, mp_complex>(f).values();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_LE(abs(a[i] - b[i]), mp_real(0x1p-230));
  // Sum of the conjugate pairs: out(z) + conj(out(conj z)) structure is not assumed; the backends:
  const auto ch = cpu::cauchy<float>(h), cf = cpu::cauchy<float>(f);
  const auto bh = cauchy_bound(h, Format::float32), bf = cauchy_bound(f, Format::float32);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_LE(std::fabs(ch[i] - to_double(a[i])), bh[i] * (1 + 1e-12));
    EXPECT_LE(std::fabs(cf[i] - to_double(a[i])), bf[i] * (1 + 1e-12));
  }
}

// The oracle's own accuracy: 256 and 512 bits agree to 2^-240 relative to the output's scale.
// covers: S4-CAUCHY-DEF
TEST(S4Cauchy, OracleStableAcrossPrecision) {
  const CauchyProblem p = random_cauchy(1, 16, 20, Conj::halves, 5, Format::float64);
  std::vector<mp_real> a, b;
  {
    WorkingPrecision wp(256);
    a = reference::cauchy<mp_real, mp_complex>(p).values();
  }
  {
    WorkingPrecision wp(512);
    b = reference::cauchy<mp_real, mp_complex>(p).values();
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_LE(abs(a[i] - b[i]), mp_real(0x1p-230));
  }
}

// [S4-CAUCHY-VJP] The VJP oracle against an independent JVP through the adjoint identity
// <dout, J u> = <J^T dout, u> (real inner products of the (re, im) parts): the JVP by central
// differences at 1024 bits, step 2^-300 (truncation error O(2^-600)).
// covers: S4-CAUCHY-VJP
TEST(S4Cauchy, VjpOracleMatchesJvpByAdjointIdentity) {
  for (Conj cv : {Conj::halves, Conj::full}) {
    WorkingPrecision wp(1024);
    const CauchyProblem p = random_cauchy(2, 3, 5, cv, 11, Format::float64);
    PhiloxStream r(13, "test/cauchy/dirs");
    std::vector<cdouble> dout, uv, uw;
    for (Index i = 0; i < p.H * p.L; ++i) dout.push_back({r.next_normal(), r.next_normal()});
    for (Index i = 0; i < p.H * p.N; ++i) uv.push_back({r.next_normal(), r.next_normal()});
    for (Index i = 0; i < p.H * p.N; ++i) uw.push_back({r.next_normal(), r.next_normal()});
    const auto g = reference::cauchy_backward<mp_real, mp_complex>(CauchyBackwardProblem(p, dout));
    // <J^T dout, u>
    mp_real lhs = 0;
    for (std::size_t i = 0; i < uv.size(); ++i) {
      const Index k = static_cast<Index>(i);
      lhs += g.dv[2 * k] * mp_real(uv[i].real()) + g.dv[2 * k + 1] * mp_real(uv[i].imag());
      lhs += g.dw[2 * k] * mp_real(uw[i].real()) + g.dw[2 * k + 1] * mp_real(uw[i].imag());
    }
    // <dout, J u>: out(x + h u) - out(x - h u) over 2h, computed directly at 1024 bits.
    const mp_real hstep = ldexp(mp_real(1), -300);
    auto eval = [&](int sgn) {
      std::vector<mp_real> out(static_cast<std::size_t>(p.H * p.L * 2));
      for (Index h = 0; h < p.H; ++h)
        for (Index l = 0; l < p.L; ++l) {
          const mp_complex z(mp_real(p.z[l].real()), mp_real(p.z[l].imag()));
          mp_complex s(0);
          for (Index n = 0; n < p.N; ++n) {
            const std::size_t i = static_cast<std::size_t>(h * p.N + n);
            const mp_complex v(mp_real(p.v[i].real()) + sgn * hstep * mp_real(uv[i].real()),
                               mp_real(p.v[i].imag()) + sgn * hstep * mp_real(uv[i].imag()));
            const mp_complex w(mp_real(p.w[i].real()) + sgn * hstep * mp_real(uw[i].real()),
                               mp_real(p.w[i].imag()) + sgn * hstep * mp_real(uw[i].imag()));
            s += v / (z - w);
            if (cv == Conj::halves) s += conj(v) / (z - conj(w));
          }
          out[static_cast<std::size_t>((h * p.L + l) * 2)] = real(s);
          out[static_cast<std::size_t>((h * p.L + l) * 2 + 1)] = imag(s);
        }
      return out;
    };
    const auto plus = eval(1), minus = eval(-1);
    mp_real rhs = 0;
    for (std::size_t i = 0; i < dout.size(); ++i) {
      rhs += mp_real(dout[i].real()) * (plus[2 * i] - minus[2 * i]) / (2 * hstep);
      rhs += mp_real(dout[i].imag()) * (plus[2 * i + 1] - minus[2 * i + 1]) / (2 * hstep);
    }
    EXPECT_LE(abs(lhs - rhs), ldexp(abs(lhs) + 1, -500)) << conj_name(cv);
  }
}

// [S4-NONFINITE] A NaN in v, w or z makes exactly the outputs that read it NaN, in every backend
// and the oracle; an infinity is rejected naming the array; so is a pole.
// covers: S4-NONFINITE S4-CAUCHY-SHAPES
TEST(S4Cauchy, NanPropagatesInfAndPolesRejected) {
  WorkingPrecision wp(256);
  CauchyInputs in = random_cauchy(2, 3, 4, Conj::halves, 17, Format::float32).in();
  in.v[4] = cdouble(std::nan(""), 0);  // h = 1
  in.z[2] = cdouble(0, std::nan(""));  // l = 2
  const CauchyProblem p(in);
  const auto exact = reference::cauchy<mp_real, mp_complex>(p).values();
  const auto c32 = cpu::cauchy<float>(p);
  const auto c64 = cpu::cauchy<double>(p);
  for (Index h = 0; h < 2; ++h)
    for (Index l = 0; l < 4; ++l)
      for (int part = 0; part < 2; ++part) {
        const std::size_t i = static_cast<std::size_t>((h * 4 + l) * 2 + part);
        const bool nan = h == 1 || l == 2;
        EXPECT_EQ(isnan(exact[i]), nan) << h << "," << l;
        EXPECT_EQ(std::isnan(c32[i]), nan);
        EXPECT_EQ(std::isnan(c64[i]), nan);
      }
  CauchyInputs q = random_cauchy(1, 2, 3, Conj::halves, 19, Format::float32).in();
  q.w[1] = cdouble(INFINITY, 0);
  try {
    (void)CauchyProblem(q);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "w");
  }
  CauchyInputs r = random_cauchy(1, 2, 3, Conj::halves, 19, Format::float32).in();
  r.z[1] = std::conj(r.w[0]);
  try {
    (void)CauchyProblem(r);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "z");
  }
  r.conj = Conj::full;
  EXPECT_NO_THROW((void)CauchyProblem(r));  // conj w is no pole in full
  EXPECT_THROW(parse_conj("both"), InvalidInput);
}

// [S4-CAUCHY-ANY-ORDER] An implementation that sums the terms in another order (here: last mode
// first, each conjugate term before its mode) is within the entry's any-order bound.
// covers: S4-CAUCHY-ANY-ORDER
TEST(S4Cauchy, AnotherOrderWithinAnyOrderBound) {
  const CauchyProblem p = random_cauchy(4, 32, 100, Conj::halves, 9, Format::float32);
  WorkingPrecision wp(256);
  const auto exact = reference::cauchy<mp_real, mp_complex>(p).values();
  const auto bound = cauchy_bound(p, Format::float32);
  double worst = 0;
  for (Index k = 0; k < p.H; ++k)
    for (Index l = 0; l < p.L; ++l) {
      std::complex<float> s(0, 0);
      const std::complex<float> z(static_cast<float>(p.z[l].real()), static_cast<float>(p.z[l].imag()));
      for (Index n = p.N - 1; n >= 0; --n) {
        const std::complex<float> v(static_cast<float>(p.vv(k, n).real()), static_cast<float>(p.vv(k, n).imag()));
        const std::complex<float> w(static_cast<float>(p.ww(k, n).real()), static_cast<float>(p.ww(k, n).imag()));
        const std::complex<float> d2 = z - std::conj(w), d = z - w;
        auto tdiv = [](std::complex<float> x, std::complex<float> y) {
          const float den = y.real() * y.real() + y.imag() * y.imag();
          return std::complex<float>((x.real() * y.real() + x.imag() * y.imag()) / den,
                                     (x.imag() * y.real() - x.real() * y.imag()) / den);
        };
        s += tdiv(std::conj(v), d2);
        s += tdiv(v, d);
      }
      const std::size_t i = static_cast<std::size_t>((k * p.L + l) * 2);
      const double e0 = std::fabs(s.real() - to_double(exact[i])), e1 = std::fabs(s.imag() - to_double(exact[i + 1]));
      EXPECT_LE(e0, bound[i]);
      EXPECT_LE(e1, bound[i + 1]);
      worst = std::max({worst, e0 / bound[i], e1 / bound[i + 1]});
    }
  EXPECT_GT(worst, kVacuousRatio);
}

// The cuda-f32 kernels' per-element bodies run on the host, against the oracle and the float32
// bound (the device test below runs the kernels themselves where a GPU exists).
// covers: S4-CAUCHY-CUDA
TEST(S4CauchyCuda, HostEmulationOfKernelBodiesWithinBound) {
  WorkingPrecision wp(256);
  double worst = 0, worst_bwd = 0;
  for (Conj conj : {Conj::halves, Conj::full}) {
    const CauchyProblem p = random_cauchy(3, 16, 40, conj, 23, Format::float32);
    PhiloxStream r(29, "test/cauchy/dout");
    std::vector<cdouble> dout;
    for (Index i = 0; i < p.H * p.L; ++i)
      dout.push_back({round_to_format(r.next_normal(), Format::float32), round_to_format(r.next_normal(), Format::float32)});
    const cuda::CauchyHostArrays a = cuda::host_arrays(p, &dout);
    const cuda::CauchyView v = a.view(p);
    const auto exact = reference::cauchy<mp_real, mp_complex>(p).values();
    const auto bound = cauchy_bound(p, Format::float32);
    for (Index h = 0; h < p.H; ++h)
      for (Index l = 0; l < p.L; ++l) {
        float re, im;
        cuda::cauchy_point(v, h, l, &re, &im);
        const std::size_t i = static_cast<std::size_t>((h * p.L + l) * 2);
        const double e0 = std::fabs(re - to_double(exact[i])), e1 = std::fabs(im - to_double(exact[i + 1]));
        EXPECT_LE(e0, bound[i]);
        EXPECT_LE(e1, bound[i + 1]);
        worst = std::max({worst, e0 / bound[i], e1 / bound[i + 1]});
      }
    // The bound's layout: dv (H, N, 2) then dw (H, N, 2).
    const auto g = reference::cauchy_backward<mp_real, mp_complex>(CauchyBackwardProblem(p, dout));
    std::vector<mp_real> gexact = g.dv.values();
    gexact.insert(gexact.end(), g.dw.values().begin(), g.dw.values().end());
    const auto gbound = cauchy_backward_bound(p, dout, Format::float32);
    const std::size_t half = gexact.size() / 2;
    for (Index h = 0; h < p.H; ++h)
      for (Index n = 0; n < p.N; ++n) {
        float out[4];
        cuda::cauchy_backward_point(v, h, n, out);
        const std::size_t i = static_cast<std::size_t>((h * p.N + n) * 2);
        const std::size_t idx[4] = {i, i + 1, half + i, half + i + 1};
        for (int k = 0; k < 4; ++k) {
          const double e = std::fabs(out[k] - to_double(gexact[idx[k]]));
          EXPECT_LE(e, gbound[idx[k]]);
          worst_bwd = std::max(worst_bwd, e / gbound[idx[k]]);
        }
      }
  }
  std::printf("cuda emulation: forward max err/bound %.3g, backward %.3g\n", worst, worst_bwd);
  EXPECT_GT(worst, kVacuousRatio);
  EXPECT_GT(worst_bwd, kVacuousRatio);
}

// covers: S4-CAUCHY-CUDA
TEST(S4CauchyCuda, DeviceWithinBound) {
  if (const std::string why = cuda::cauchy_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  const Registry& reg = builtin_registry();
  for (const char* name : {"s4.cauchy", "s4.cauchy_backward"}) {
    const Algorithm& a = reg.get(name);
    const BackendSpec& b = reg.backend(a, "cuda-f32");
    double worst = 0;
    for (const std::string& size : a.sizes()) {
      const auto p = a.generate(size, b.format, 7);
      worst = std::max(worst, judge_backend(a, b, *p, a.reference(*p, 256), size));
    }
    EXPECT_GT(worst, kVacuousRatio);
  }
}

}  // namespace
}  // namespace touchstone::s4
