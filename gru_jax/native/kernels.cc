// gru_jax native CPU kernels, called from JAX through the XLA FFI (see gru_jax/native/ops.py).
//
// Two kernels, both for a whole seed ensemble at once (leading axes = seeds, 1 = shared):
//
//   gru_jax_loss_grad: loss and gradient of ONE optimizer step of the one-unit GRU
//     (hidden 1, input 2, output 1; torch.nn.GRU equations, gate order r, z, n), for the
//     samples `index` of each seed's training set, packed one row a sample (ops.pack_rows).
//     The math is the same as the JAX path (gru_jax.model.gru_cell + jax.grad), written out
//     by hand: forward over the T steps keeping r, z, n, the hidden pre-term and h; backward
//     in reverse; parameter gradients summed over steps and samples.
//   gru_jax_next_order: gru_jax.data.next_order, bit for bit: 32-bit keys (hash of the
//     position and two random words, low bits = position) sorted ascending by a stable LSD
//     radix sort over the high bits (two passes of 11 bits for n = 8000; an MSD pass with
//     per-bucket insertion sorts measured 1.7x slower), then composed with the previous order.
//
// Parameters, flat (17): W_ir(v,f) W_iz(v,f) W_in(v,f) W_hr W_hz W_hn b_ir b_iz b_in b_hr b_hz
// b_hn w_out b_out: the row-major concatenation of the torch state_dict entries.
//
// Why this exists: XLA:CPU runs the same step as ~60 separate elementwise loops per step, each
// a pass over memory; this loop keeps every intermediate of 16 samples in registers and
// vectorises over samples (experiments/PERF_NOTES.md). float32 throughout, sums over samples
// in double; results agree with the XLA path to float32 rounding (tests/test_native.py).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kParams = 17;
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

// Product of all dimensions but the last `core` ones (the "seed" count of a buffer).
template <typename Buffer>
int64_t leading(const Buffer& buffer, int core) {
  auto dims = buffer.dimensions();
  int64_t count = 1;
  for (size_t i = 0; i + core < dims.size(); ++i) count *= dims[i];
  return count;
}

// Runs f(0) .. f(n - 1) on the caller and the XLA intra-op pool. The caller works too and
// waits only for items that were started, so a pool that never runs a task cannot block it.
template <typename F>
void parallel_for(ffi::ThreadPool& pool, int64_t n, const F& f) {
  const int64_t threads = std::min<int64_t>(pool.num_threads(), n);
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  struct Counters {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto counters = std::make_shared<Counters>();
  const F* body = &f;
  auto work = [counters, body, n]() {
    for (int64_t i = counters->next.fetch_add(1); i < n; i = counters->next.fetch_add(1)) {
      (*body)(i);
      counters->done.fetch_add(1);
    }
  };
  for (int64_t t = 1; t < threads; ++t) {
    auto task = work;
    pool.Schedule(std::move(task));
  }
  work();
  while (counters->done.load() < n) std::this_thread::yield();
}

struct StepShape {
  int64_t n;       // training samples per seed
  int64_t steps;   // T
  int64_t width;   // floats per packed row (>= 2T + 1, a multiple of 8)
  int64_t batch;   // B
};

// Asks for sample `row` ahead of use: per-seed datasets of a large ensemble live in DRAM, and
// the rows of a batch are random.
inline void prefetch_row(const float* rows, int32_t row, int64_t width, int64_t n) {
  if (row < 0 || row >= n) return;
  __builtin_prefetch(rows + static_cast<int64_t>(row) * width);
}

// Loss and gradient of one seed's step. rows: (n, width), each [v_0, f_0, ..., v_{T-1},
// f_{T-1}, y, padding] (one 64-byte line a sample for T = 4: one cache miss, not two),
// index: (B,), valid: (T,). Returns false if an index is out of range.
bool seed_loss_grad(const float* p, const float* rows, const int32_t* index, const float* valid,
                    const StepShape& shape, float* loss_out, float* grad_out) {
  constexpr int U = 2;  // independent 8-lane blocks, interleaved to hide latency
  constexpr int W = U * kLanes;  // samples per group
  const int64_t T = shape.steps, B = shape.batch, n = shape.n, width = shape.width;
  const float wir_v = p[0], wir_f = p[1], wiz_v = p[2], wiz_f = p[3], win_v = p[4],
              win_f = p[5], whr = p[6], whz = p[7], whn = p[8], bir = p[9], biz = p[10],
              bin = p[11], bhr = p[12], bhz = p[13], bhn = p[14], wout = p[15], bout = p[16];
  // Accumulators, per lane: 0 r*v, 1 r*f, 2 z*v, 3 z*f, 4 n*v, 5 n*f, 6 r*h, 7 z*h, 8 g*h,
  // 9 r, 10 z, 11 n, 12 g (gate pre-activation gradients times their inputs), 13 dy*h_T,
  // 14 dy, 15 e^2. Summed over groups in float per lane, then over lanes in double.
  double sums[16] = {};
  // Per step and block: v, f, h_prev, r, z, n, g.
  // Scratch reused across calls on this thread (this runs once per seed and step).
  thread_local std::vector<Vec> cache;
  thread_local std::vector<float> inputs;
  cache.resize(static_cast<size_t>(T) * 7 * U);
  inputs.resize(static_cast<size_t>(T + 3) / 4 * 8 * W);
  const float inv_batch = 1.0f / static_cast<float>(B);
  Vec acc[16];
  for (auto& a : acc) a = Vec{};
  constexpr int64_t kAhead = 2 * W;  // prefetch the rows two groups ahead (DRAM latency)
  for (int64_t j = 0; j < std::min<int64_t>(kAhead, B); ++j) {
    prefetch_row(rows, index[j], width, n);
  }
  for (int64_t start = 0; start < B; start += W) {
    for (int64_t j = start + kAhead; j < std::min<int64_t>(start + kAhead + W, B); ++j) {
      prefetch_row(rows, index[j], width, n);
    }
    alignas(32) float target[W], live[W];
    const float* samples[W];
    for (int j = 0; j < W; ++j) {
      const bool real = start + j < B;
      const int32_t row = real ? index[start + j] : 0;
      if (row < 0 || row >= n) return false;
      samples[j] = rows + static_cast<int64_t>(row) * width;
      target[j] = samples[j][T * 2];
      live[j] = real ? 1.0f : 0.0f;
    }
    // Inputs to lanes, 4 steps at a time: a sample's 8 floats (v, f of 4 steps) are one
    // vector, and 8 samples transpose into 8 per-step input vectors (3.5x fewer instructions
    // than scalar copies). Rows are padded to whole 8-float blocks, so every load is in the row.
    for (int64_t base = 0; base < 2 * T; base += 8) {
      for (int u = 0; u < U; ++u) {
        Vec block[kLanes];
        for (int j = 0; j < kLanes; ++j) block[j] = load(samples[u * kLanes + j] + base);
        transpose8(block);
        for (int k = 0; k < kLanes; ++k) store(&inputs[(base + k) * W + u * kLanes], block[k]);
      }
    }
    Vec h[U];
    for (int u = 0; u < U; ++u) h[u] = Vec{};
    for (int64_t t = 0; t < T; ++t) {
      if (valid[t] == 0.0f) continue;
      Vec v[U], f[U], r[U], z[U], g[U], nn[U];
      for (int u = 0; u < U; ++u) {
        v[u] = load(&inputs[(t * 2 + 0) * W + u * kLanes]);
        f[u] = load(&inputs[(t * 2 + 1) * W + u * kLanes]);
      }
      // One statement at a time for all U blocks, so their dependency chains interleave.
      for (int u = 0; u < U; ++u) {
        r[u] = sigmoid_vec((wir_v * v[u] + wir_f * f[u] + bir) + (whr * h[u] + bhr));
      }
      for (int u = 0; u < U; ++u) {
        z[u] = sigmoid_vec((wiz_v * v[u] + wiz_f * f[u] + biz) + (whz * h[u] + bhz));
      }
      for (int u = 0; u < U; ++u) g[u] = whn * h[u] + bhn;
      for (int u = 0; u < U; ++u) {
        nn[u] = tanh_vec((win_v * v[u] + win_f * f[u] + bin) + r[u] * g[u]);
      }
      for (int u = 0; u < U; ++u) {
        Vec* c = &cache[(t * U + u) * 7];
        c[0] = v[u];
        c[1] = f[u];
        c[2] = h[u];
        c[3] = r[u];
        c[4] = z[u];
        c[5] = nn[u];
        c[6] = g[u];
        h[u] = (1.0f - z[u]) * nn[u] + z[u] * h[u];
      }
    }
    Vec dh[U];
    for (int u = 0; u < U; ++u) {
      const Vec e = (wout * h[u] + bout - load(&target[u * kLanes])) * load(&live[u * kLanes]);
      const Vec dy = 2.0f * e * inv_batch;
      acc[13] += dy * h[u];
      acc[14] += dy;
      acc[15] += e * e;
      dh[u] = dy * wout;
    }
    for (int64_t t = T - 1; t >= 0; --t) {
      if (valid[t] == 0.0f) continue;
      for (int u = 0; u < U; ++u) {
        const Vec* c = &cache[(t * U + u) * 7];
        const Vec v = c[0], f = c[1], hp = c[2], r = c[3], z = c[4], nn = c[5], g = c[6];
        const Vec dan = dh[u] * (1.0f - z) * (1.0f - nn * nn);
        const Vec dg = dan * r;
        const Vec daz = dh[u] * (hp - nn) * (z * (1.0f - z));
        const Vec dar = dan * g * (r * (1.0f - r));
        acc[0] += dar * v;
        acc[1] += dar * f;
        acc[2] += daz * v;
        acc[3] += daz * f;
        acc[4] += dan * v;
        acc[5] += dan * f;
        acc[6] += dar * hp;
        acc[7] += daz * hp;
        acc[8] += dg * hp;
        acc[9] += dar;
        acc[10] += daz;
        acc[11] += dan;
        acc[12] += dg;
        dh[u] = dh[u] * z + whr * dar + whz * daz + whn * dg;
      }
    }
  }
  for (int k = 0; k < 16; ++k) {
    for (int j = 0; j < kLanes; ++j) sums[k] += acc[k][j];
  }
  static const int kFromSum[kParams] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 9, 10, 12, 13, 14};
  for (int i = 0; i < kParams; ++i) grad_out[i] = static_cast<float>(sums[kFromSum[i]]);
  *loss_out = static_cast<float>(sums[15] / static_cast<double>(B));
  return true;
}

// An input must hold one entry per seed, or one for all of them.
ffi::Error check_leading(const char* kernel, const char* name, int64_t count, int64_t seeds) {
  if (count != 1 && count != seeds) {
    return ffi::Error::InvalidArgument(std::string(kernel) + ": " + name +
                                       " has " + std::to_string(count) +
                                       " leading entries; expected 1 or " +
                                       std::to_string(seeds));
  }
  return ffi::Error::Success();
}

ffi::Error LossGradImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> params,
                        ffi::Buffer<ffi::F32> rows, ffi::Buffer<ffi::S32> index,
                        ffi::Buffer<ffi::F32> valid, ffi::ResultBuffer<ffi::F32> loss,
                        ffi::ResultBuffer<ffi::F32> grad) {
  auto rdims = rows.dimensions();
  auto idims = index.dimensions();
  auto vdims = valid.dimensions();
  if (rdims.size() < 2 || idims.size() == 0 || vdims.size() == 0 ||
      params.dimensions().back() != kParams || rdims.back() < 2 * vdims.back() + 1 ||
      rdims.back() % 8 != 0) {
    return ffi::Error::InvalidArgument(
        "gru_jax_loss_grad: expected params (..., 17), rows (..., n, width) with width >= 2T + 1 "
        "a multiple of 8, index (..., B), valid (..., T)");
  }
  const StepShape shape{rdims[rdims.size() - 2], vdims.back(), rdims.back(), idims.back()};
  const int64_t seeds = leading(*grad, 1);
  const int64_t lp = leading(params, 1), lr = leading(rows, 2), li = leading(index, 1),
                lv = leading(valid, 1);
  for (auto [count, name] : {std::pair{lp, "params"}, std::pair{lr, "rows"},
                             std::pair{li, "index"}, std::pair{lv, "valid"}}) {
    ffi::Error error = check_leading("gru_jax_loss_grad", name, count, seeds);
    if (error.failure()) return error;
  }
  const float* p = params.typed_data();
  const float* rd = rows.typed_data();
  const int32_t* id = index.typed_data();
  const float* vd = valid.typed_data();
  float* lo = loss->typed_data();
  float* go = grad->typed_data();
  std::atomic<bool> in_range{true};
  auto body = [&](int64_t s) {
    const bool ok = seed_loss_grad(
        p + (lp == 1 ? 0 : s) * kParams, rd + (lr == 1 ? 0 : s) * shape.n * shape.width,
        id + (li == 1 ? 0 : s) * shape.batch, vd + (lv == 1 ? 0 : s) * shape.steps, shape,
        lo + s, go + s * kParams);
    if (!ok) in_range.store(false);
  };
  parallel_for(pool, seeds, body);
  if (!in_range.load()) {
    return ffi::Error::InvalidArgument("gru_jax_loss_grad: a batch index is outside [0, n)");
  }
  return ffi::Error::Success();
}

// ---- next_order -----------------------------------------------------------------------------
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  return x ^ (x >> 16);
}

void seed_next_order(const int32_t* previous, const uint32_t* words, int64_t n, int bits,
                     int32_t* out, std::vector<uint32_t>& keys, std::vector<uint32_t>& spare,
                     std::vector<uint32_t>& counts) {
  const uint32_t low = (bits >= 32) ? 0xFFFFFFFFu : ((1u << bits) - 1u);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t position = static_cast<uint32_t>(i);
    const uint32_t random = mix32(mix32((position * 0x9E3779B9u) ^ words[0]) + words[1]);
    keys[i] = (random & ~low) | position;
  }
  // Stable LSD radix sort on bits [bits, 32): keys start in position order, so equal high
  // parts stay in position order, which is the order of the full keys.
  constexpr int kDigit = 11;
  uint32_t* from = keys.data();
  uint32_t* to = spare.data();
  for (int shift = bits; shift < 32; shift += kDigit) {
    const int width = std::min(kDigit, 32 - shift);
    const uint32_t mask = (1u << width) - 1u;
    std::fill(counts.begin(), counts.begin() + (1u << width), 0u);
    for (int64_t i = 0; i < n; ++i) ++counts[(from[i] >> shift) & mask];
    uint32_t total = 0;
    for (uint32_t d = 0; d < (1u << width); ++d) {
      const uint32_t c = counts[d];
      counts[d] = total;
      total += c;
    }
    for (int64_t i = 0; i < n; ++i) to[counts[(from[i] >> shift) & mask]++] = from[i];
    std::swap(from, to);
  }
  for (int64_t i = 0; i < n; ++i) out[i] = previous[from[i] & low];
}

ffi::Error NextOrderImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::S32> previous,
                         ffi::Buffer<ffi::U32> words, ffi::ResultBuffer<ffi::S32> order) {
  const int64_t n = previous.dimensions().back();
  const int64_t seeds = leading(*order, 1);
  const int64_t lp = leading(previous, 1), lw = leading(words, 1);
  if (words.dimensions().back() != 2) {
    return ffi::Error::InvalidArgument("gru_jax_next_order: expected words (..., 2)");
  }
  for (auto [count, name] : {std::pair{lp, "previous"}, std::pair{lw, "words"}}) {
    ffi::Error error = check_leading("gru_jax_next_order", name, count, seeds);
    if (error.failure()) return error;
  }
  int bits = 1;
  while ((int64_t{1} << bits) < n) ++bits;  // index_bits(n) = bit_length(n - 1), at least 1
  if (bits > 31) return ffi::Error::InvalidArgument("gru_jax_next_order: n >= 2^31");
  const int32_t* pd = previous.typed_data();
  const uint32_t* wd = words.typed_data();
  int32_t* od = order->typed_data();
  auto body = [&](int64_t s) {
    thread_local std::vector<uint32_t> keys, spare, counts;
    keys.resize(n);
    spare.resize(n);
    counts.resize(1u << 11);
    seed_next_order(pd + (lp == 1 ? 0 : s) * n, wd + (lw == 1 ? 0 : s) * 2, n, bits,
                    od + s * n, keys, spare, counts);
  };
  parallel_for(pool, seeds, body);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxLossGrad, LossGradImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxNextOrder, NextOrderImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());
