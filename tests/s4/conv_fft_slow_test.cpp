// The FFT error model on long lengths (to 2^15, `slow`).
#include "../tightness.hpp"
#include "conv_fft_support.hpp"

using namespace touchstone;

// covers: S4CONV-ASSUME-FFTW S4CONV-FFT-BOUND S4CONV-FFT-BOUND-NORM
TEST(FftBoundSlow, HoldsOnLongLengths) {
  s4::conv_testing::check_fft_lengths({8192, 3 * 4096, 16384, 32768, 5 * 4096, 7 * 2048, 17 * 1024, 4099},
                             kVacuousRatio);
}
