// The packed training rows as the loss kernels read them: one row a sample,
// [v_0, f_0, ..., v_{T-1}, f_{T-1}, y, first, padding] (gru_jax.engines.native.pack_rows;
// `first`, the row's first real step, matters to per-row tasks only), and the gather of a
// group of W samples into per-step input vectors. Included by kernels.cc only.
#pragma once

#include <cstdint>

#include "vector_math.h"

namespace gru_jax_native {

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

// Gathers the W samples index[start .. start + W) (those at or past B are dead: row 0, live 0)
// into inputs[(2 t + c) * W + j] (step t, channel c = value, flag; sample j), target[j] and
// live[j], and with PerRow each row's first real step into first[j] (as a float). Returns
// false if an index is outside [0, n).
//
// Inputs go to lanes 4 steps at a time: a sample's 8 floats (v, f of 4 steps) are one vector,
// and 8 samples transpose into 8 per-step input vectors (3.5x fewer instructions than scalar
// copies). Rows are padded to whole 8-float blocks, so every load is inside the row.
template <int W, bool PerRow = false>
inline bool gather_group(const float* rows, const int32_t* index, int64_t start,
                         const StepShape& shape, float* inputs, float* target, float* live,
                         float* first = nullptr) {
  const int64_t T = shape.steps, B = shape.batch, n = shape.n, width = shape.width;
  const float* samples[W];
  for (int j = 0; j < W; ++j) {
    const bool real = start + j < B;
    const int32_t row = real ? index[start + j] : 0;
    if (row < 0 || row >= n) return false;
    samples[j] = rows + static_cast<int64_t>(row) * width;
    target[j] = samples[j][T * 2];
    if constexpr (PerRow) first[j] = samples[j][T * 2 + 1];
    live[j] = real ? 1.0f : 0.0f;
  }
  for (int64_t base = 0; base < 2 * T; base += 8) {
    for (int u = 0; u < W / kLanes; ++u) {
      Vec block[kLanes];
      for (int j = 0; j < kLanes; ++j) block[j] = load(samples[u * kLanes + j] + base);
      transpose8(block);
      for (int k = 0; k < kLanes; ++k) store(&inputs[(base + k) * W + u * kLanes], block[k]);
    }
  }
  return true;
}

}  // namespace gru_jax_native
