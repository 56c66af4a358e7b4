// gru_jax native CPU kernels, called from JAX through the XLA FFI (gru_jax/engines/native.py).
//
// Kernels for a whole seed ensemble at once (leading axes = seeds, 1 = shared):
//
//   gru_jax_loss_grad: loss and gradient of ONE optimizer step of the GRU at hidden size H
//     (1 .. kMaxHidden; input 2, output 1; torch.nn.GRU equations, gate order r, z, n), for
//     the samples `index` of each seed's training set, packed one row a sample (rows.h). The
//     math is the same as the JAX path (gru_jax.model.gru_cell + jax.grad), written out by
//     hand: forward over the T steps keeping r, z, n, the hidden pre-term and h; backward in
//     reverse; parameter gradients summed over steps and samples. H = 1: loss_grad_h1.h;
//     H > 1: loss_grad_hidden.h (H a template parameter, one instance per size). H is read
//     from the params' length.
//   gru_jax_loss_grad_rows: the same for per-row lengths (Config.per_row_lengths): each packed
//     row holds its first real step (rows.h), and a sample's earlier steps are skipped (h kept,
//     no gradient), per sample, on top of the seed's valid mask.
//   gru_jax_pack_rows: the training rows in the loss kernel's layout (rows.h), on 2 MiB pages.
//   gru_jax_dataset, gru_jax_first_order: a seed's setup (setup.h), jax's numbers bit for
//     bit: its dataset (drawn, flagged and scaled) and its first sample order.
//   gru_jax_next_order: gru_jax.data.next_order, bit for bit: 32-bit keys (hash of the
//     position and two random words, low bits = position) sorted ascending by a stable LSD
//     radix sort over the high bits (two passes of 11 bits for n = 8000; an MSD pass with
//     per-bucket insertion sorts measured 1.7x slower), then composed with the previous order.
//
// Parameters, flat (N(H) = 3H^2 + 13H + 1; 17 at H = 1): the row-major concatenation of the
// torch state_dict entries (gru_jax.model.flatten_params).
//
// Why this exists: XLA:CPU runs the same step as ~60 separate elementwise loops per step, each
// a pass over memory; these loops keep the intermediates of 8-sample blocks in registers and
// vectorise over samples (experiments/PERF_NOTES.md). float32 throughout, sums over samples
// in double; results agree with the XLA path to float32 rounding (tests/test_native.py).
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "loss_grad_h1.h"
#include "loss_grad_hidden.h"
#include "rows.h"
#include "setup.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using namespace gru_jax_native;  // NOLINT: this file is the only translation unit

// Hidden sizes with a compiled loss kernel: 1 (loss_grad_h1.h) and 2 .. kMaxHidden
// (loss_grad_hidden.h). Keep equal to gru_jax.engines.native.HIDDEN_SIZES.
constexpr int kMaxHidden = 16;

using LossGradFn = bool (*)(const float*, const float*, const int32_t*, const float*,
                            const StepShape&, float*, float*);

template <int H, bool PerRow>
constexpr LossGradFn loss_grad_for() {
  if constexpr (H == 1) {
    return &seed_loss_grad_h1<PerRow>;
  } else {
    return &seed_loss_grad_hidden<H, PerRow>;
  }
}

template <bool PerRow, int... I>
constexpr std::array<LossGradFn, sizeof...(I)> loss_grad_table(std::integer_sequence<int, I...>) {
  return {loss_grad_for<I + 1, PerRow>()...};
}

// The kernel of each hidden size, kLossGrad<PerRow>[H - 1] (PerRow: per-row lengths).
template <bool PerRow>
constexpr auto kLossGrad =
    loss_grad_table<PerRow>(std::make_integer_sequence<int, kMaxHidden>{});

// The hidden size whose flat params have `count` entries (0: none compiled).
int hidden_from_params(int64_t count) {
  for (int h = 1; h <= kMaxHidden; ++h) {
    if (flat_params(h) == count) return h;
  }
  return 0;
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

template <bool PerRow>
ffi::Error LossGradImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> params,
                        ffi::Buffer<ffi::F32> rows, ffi::Buffer<ffi::S32> index,
                        ffi::Buffer<ffi::F32> valid, ffi::ResultBuffer<ffi::F32> loss,
                        ffi::ResultBuffer<ffi::F32> grad) {
  auto rdims = rows.dimensions();
  auto idims = index.dimensions();
  auto vdims = valid.dimensions();
  const int64_t n_params = params.dimensions().size() ? params.dimensions().back() : 0;
  const int hidden = hidden_from_params(n_params);
  if (rdims.size() < 2 || idims.size() == 0 || vdims.size() == 0 || hidden == 0 ||
      rdims.back() < 2 * vdims.back() + 1 || rdims.back() % 8 != 0) {
    return ffi::Error::InvalidArgument(
        "gru_jax_loss_grad: expected params (..., N(H)) with N(H) = 3H^2 + 13H + 1 for a hidden "
        "size H in 1.." + std::to_string(kMaxHidden) + " (got " + std::to_string(n_params) +
        " params), rows (..., n, width) with width >= 2T + 1 a multiple of 8, index (..., B), "
        "valid (..., T)");
  }
  const LossGradFn seed_loss_grad = kLossGrad<PerRow>[hidden - 1];
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
        p + (lp == 1 ? 0 : s) * n_params, rd + (lr == 1 ? 0 : s) * shape.n * shape.width,
        id + (li == 1 ? 0 : s) * shape.batch, vd + (lv == 1 ? 0 : s) * shape.steps, shape,
        lo + s, go + s * n_params);
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

// ---- pack_rows ------------------------------------------------------------------------------
// Asks the kernel for 2 MiB pages over [data, data + bytes) (the whole pages inside it), before
// the first write. The loss kernel reads one random row of each seed's rows per sample: with
// 4 KiB pages an ensemble's rows (0.5 MB a seed) span far more pages than the TLB holds, so
// almost every row costs a page walk. A hint only: without transparent huge pages, or over
// pages already written, nothing changes.
void advise_huge_pages(void* data, size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t{1} << 21;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

ffi::Error PackRowsImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> y,
                        ffi::Buffer<ffi::F32> first, ffi::ResultBuffer<ffi::F32> rows) {
  auto xdims = x.dimensions();
  auto rdims = rows->dimensions();
  if (xdims.size() < 3 || xdims.back() != 2 || rdims.size() < 2 ||
      first.dimensions().size() == 0) {
    return ffi::Error::InvalidArgument(
        "gru_jax_pack_rows: expected x (..., n, T, 2), y (..., n, 1), first (..., n), rows "
        "(..., n, width)");
  }
  const int64_t n = xdims[xdims.size() - 3], steps = xdims[xdims.size() - 2];
  const int64_t width = rdims.back();
  if (rdims[rdims.size() - 2] != n || width < 2 * steps + 2 ||
      y.element_count() != leading(x, 3) * n || first.dimensions().back() != n) {
    return ffi::Error::InvalidArgument(
        "gru_jax_pack_rows: x, y, first and rows disagree on n or width");
  }
  const int64_t seeds = leading(*rows, 2);
  const int64_t lx = leading(x, 3), lf = leading(first, 1);
  for (auto [count, name] : {std::pair{lx, "x"}, std::pair{lf, "first"}}) {
    ffi::Error error = check_leading("gru_jax_pack_rows", name, count, seeds);
    if (error.failure()) return error;
  }
  float* out = rows->typed_data();
  advise_huge_pages(out, sizeof(float) * seeds * n * width);
  const float* xd = x.typed_data();
  const float* yd = y.typed_data();
  const float* fd = first.typed_data();
  auto body = [&](int64_t s) {
    const float* xs = xd + (lx == 1 ? 0 : s) * n * steps * 2;
    const float* ys = yd + (lx == 1 ? 0 : s) * n;
    const float* fs = fd + (lf == 1 ? 0 : s) * n;
    float* rs = out + s * n * width;
    for (int64_t i = 0; i < n; ++i) {
      float* row = rs + i * width;
      std::memcpy(row, xs + i * steps * 2, sizeof(float) * steps * 2);
      row[2 * steps] = ys[i];
      row[2 * steps + 1] = fs[i];
      std::fill(row + 2 * steps + 2, row + width, 0.0f);
    }
  };
  parallel_for(pool, seeds, body);
  return ffi::Error::Success();
}

// ---- setup: datasets and first orders (setup.h) ---------------------------------------------
ffi::Error DatasetImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::U32> keys,
                       ffi::Buffer<ffi::S32> scalars, ffi::ResultBuffer<ffi::F32> x_train,
                       ffi::ResultBuffer<ffi::F32> y_train, ffi::ResultBuffer<ffi::F32> x_test,
                       ffi::ResultBuffer<ffi::F32> y_test) {
  auto tdims = x_train->dimensions();
  auto edims = x_test->dimensions();
  if (keys.dimensions().size() < 2 || keys.dimensions().back() != 2 ||
      keys.dimensions()[keys.dimensions().size() - 2] != 3 || scalars.dimensions().size() < 1 ||
      scalars.dimensions().back() != 3 || tdims.size() < 3 || tdims.back() != 2 ||
      edims.size() != tdims.size() || edims[edims.size() - 2] != tdims[tdims.size() - 2]) {
    return ffi::Error::InvalidArgument(
        "gru_jax_dataset: expected keys (..., 3, 2), scalars (..., 3) [length, num_ones, high], "
        "x_train (..., n_train, width, 2), y_train (..., n_train, 1), x_test (..., n_test, "
        "width, 2), y_test (..., n_test, 1)");
  }
  const int64_t n_train = tdims[tdims.size() - 3], width = tdims[tdims.size() - 2];
  const int64_t n_test = edims[edims.size() - 3];
  if (width > kMaxWidth) {
    return ffi::Error::InvalidArgument("gru_jax_dataset: width above " +
                                       std::to_string(kMaxWidth));
  }
  const int64_t seeds = leading(*x_train, 3);
  for (auto [count, name] : {std::pair{leading(keys, 2), "keys"},
                             std::pair{leading(scalars, 1), "scalars"},
                             std::pair{leading(*x_test, 3), "x_test"}}) {
    if (count != seeds) {
      return ffi::Error::InvalidArgument(std::string("gru_jax_dataset: ") + name + " has " +
                                         std::to_string(count) + " leading entries, x_train " +
                                         std::to_string(seeds));
    }
  }
  const int64_t row = width * 2;
  float* xt = x_train->typed_data();
  float* xe = x_test->typed_data();
  advise_huge_pages(xt, sizeof(float) * seeds * n_train * row);
  advise_huge_pages(xe, sizeof(float) * seeds * n_test * row);
  const uint32_t* kd = keys.typed_data();
  const int32_t* sd = scalars.typed_data();
  float* yt = y_train->typed_data();
  float* ye = y_test->typed_data();
  auto body = [&](int64_t s) {
    thread_local DatasetScratch scratch;
    const int32_t* own = sd + 3 * s;
    const DatasetOut out{xt + s * n_train * row, yt + s * n_train, xe + s * n_test * row,
                         ye + s * n_test};
    seed_dataset(kd + 6 * s, own[0], own[1], own[2], n_train + n_test, n_train, width, out,
                 scratch);
  };
  parallel_for(pool, seeds, body);
  return ffi::Error::Success();
}

ffi::Error FirstOrderImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::U32> keys,
                          ffi::ResultBuffer<ffi::S32> order) {
  auto kdims = keys.dimensions();
  if (kdims.size() < 2 || kdims.back() != 2) {
    return ffi::Error::InvalidArgument("gru_jax_first_order: expected keys (..., rounds, 2)");
  }
  const int64_t rounds = kdims[kdims.size() - 2], n = order->dimensions().back();
  const int64_t seeds = leading(*order, 1);
  if (leading(keys, 2) != seeds || n >= (int64_t{1} << 32)) {
    return ffi::Error::InvalidArgument("gru_jax_first_order: keys and order disagree");
  }
  const uint32_t* kd = keys.typed_data();
  int32_t* od = order->typed_data();
  auto body = [&](int64_t s) {
    thread_local std::vector<uint32_t> words, counts;
    thread_local std::vector<uint64_t> pairs, spare;
    thread_local std::vector<int32_t> previous;
    seed_first_order(kd + s * rounds * 2, rounds, n, od + s * n, words, pairs, spare, previous,
                     counts);
  };
  parallel_for(pool, seeds, body);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxDataset, DatasetImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxFirstOrder, FirstOrderImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxPackRows, PackRowsImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxLossGrad, LossGradImpl<false>,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GruJaxLossGradRows, LossGradImpl<true>,
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
