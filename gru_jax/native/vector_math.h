// Eight-lane float32 vectors and the elementwise math of the native kernels (exp, sigmoid,
// tanh, an 8 x 8 transpose). Included by kernels.cc only (one translation unit).
#pragma once

#include <cstdint>
#include <cstring>

namespace gru_jax_native {

constexpr int kLanes = 8;  // samples per vector

// Eight float32 lanes (GCC/Clang vector extensions: one AVX2 register, two SSE registers):
// every operation below is elementwise, so the code is vectorised by construction rather than
// by the auto-vectoriser.
typedef float Vec __attribute__((vector_size(32)));
typedef int32_t IVec __attribute__((vector_size(32)));

inline Vec splat(float value) { return Vec{} + value; }

inline Vec from_bits(IVec bits) {
  Vec out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

// exp(x) for float32 (Cephes expf: range reduction by ln 2, then 1 + r + r^2 p(r) with p of
// degree 5; ~1 ulp).
// Inputs are clamped to [-87.3, 88.3], where exp is finite and normal. No -ffast-math: the
// rounding trick (adding and subtracting 1.5 * 2^23) and the evaluation order rely on IEEE
// semantics.
inline Vec exp_vec(Vec x) {
  x = x < -87.3f ? splat(-87.3f) : x;
  x = x > 88.3f ? splat(88.3f) : x;
  const Vec k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  Vec r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  Vec p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const IVec exponent = (__builtin_convertvector(k, IVec) + 127) << 23;
  return p * from_bits(exponent);
}

inline Vec sigmoid_vec(Vec x) { return 1.0f / (1.0f + exp_vec(-x)); }

// tanh(x) for float32: the odd/even 13/6-degree rational interpolant that Eigen and XLA:CPU
// use (a few ulp on [-9, 9]; tanh is +-1 in float32 beyond): one division, no exp.
inline Vec tanh_vec(Vec x) {
  x = x < -9.0f ? splat(-9.0f) : x;
  x = x > 9.0f ? splat(9.0f) : x;
  const Vec x2 = x * x;
  Vec p = splat(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * x;
  Vec q = splat(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p / q;
}

inline Vec load(const float* from) {
  Vec out;
  std::memcpy(&out, from, sizeof(out));
  return out;
}

inline void store(float* to, Vec value) { std::memcpy(to, &value, sizeof(value)); }

#if defined(__clang__)
#define SHUFFLE(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
#define SHUFFLE(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shuffle(a, b, IVec{i0, i1, i2, i3, i4, i5, i6, i7})
#endif

// In-place 8 x 8 transpose: afterwards m[k][j] is the old m[j][k]. Three rounds of pairwise
// interleaves (lanes 0-7 of the first operand, 8-15 of the second).
inline void transpose8(Vec* m) {
  Vec t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = SHUFFLE(m[i], m[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = SHUFFLE(m[i], m[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = SHUFFLE(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = SHUFFLE(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = SHUFFLE(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = SHUFFLE(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int k = 0; k < 4; ++k) {
    m[k] = SHUFFLE(u[k], u[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    m[k + 4] = SHUFFLE(u[k], u[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

}  // namespace gru_jax_native
