// Loss and gradient of one optimizer step of the ONE-unit GRU (hidden 1, input 2, output 1),
// one seed: the blog's shape, written out scalar by scalar (flat params, 17: W_ir(v,f) W_iz(v,f)
// W_in(v,f) W_hr W_hz W_hn b_ir b_iz b_in b_hr b_hz b_hn w_out b_out). Any other hidden size:
// loss_grad_hidden.h. Included by kernels.cc only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "rows.h"
#include "vector_math.h"

namespace gru_jax_native {

// Loss and gradient of one seed's step. rows: (n, width), each [v_0, f_0, ..., v_{T-1},
// f_{T-1}, y, first, padding] (one 64-byte line a sample for T = 4: one cache miss, not two),
// index: (B,), valid: (T,). Returns false if an index is out of range.
//
// PerRow (per-row lengths): besides valid, a sample's steps before its own `first` are
// padding: there h is kept (h' = h) and, going back, dL/dh passes through unchanged and the
// step adds nothing to the gradient. PerRow = false is the scalar task's kernel unchanged.
template <bool PerRow>
inline bool seed_loss_grad_h1(const float* p, const float* rows, const int32_t* index,
                              const float* valid, const StepShape& shape, float* loss_out,
                              float* grad_out) {
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
  // Inline on purpose (also in the other loss kernel): the same loop as one rows.h helper
  // trained 1.6x slower at H = 1 although the kernel alone was not (PERF_NOTES row 27).
  constexpr int64_t kAhead = 2 * W;  // prefetch the rows two groups ahead (DRAM latency)
  for (int64_t j = 0; j < std::min<int64_t>(kAhead, B); ++j) {
    prefetch_row(rows, index[j], width, n);
  }
  for (int64_t start = 0; start < B; start += W) {
    for (int64_t j = start + kAhead; j < std::min<int64_t>(start + kAhead + W, B); ++j) {
      prefetch_row(rows, index[j], width, n);
    }
    alignas(32) float target[W], live[W], first[W];
    if (!gather_group<W, PerRow>(rows, index, start, shape, inputs.data(), target, live, first)) {
      return false;
    }
    Vec h[U], first_step[U];
    for (int u = 0; u < U; ++u) h[u] = Vec{};
    if constexpr (PerRow) {
      for (int u = 0; u < U; ++u) first_step[u] = load(&first[u * kLanes]);
    }
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
        const Vec next = (1.0f - z[u]) * nn[u] + z[u] * h[u];
        if constexpr (PerRow) {
          h[u] = splat(static_cast<float>(t)) >= first_step[u] ? next : h[u];
        } else {
          h[u] = next;
        }
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
        Vec dh_step = dh[u];             // dL/dh' where the step is real, 0 on padding
        if constexpr (PerRow) {
          dh_step = splat(static_cast<float>(t)) >= first_step[u] ? dh[u] : Vec{};
        }
        const Vec dan = dh_step * (1.0f - z) * (1.0f - nn * nn);
        const Vec dg = dan * r;
        const Vec daz = dh_step * (hp - nn) * (z * (1.0f - z));
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
        const Vec back = dh_step * z + whr * dar + whz * daz + whn * dg;
        if constexpr (PerRow) {
          dh[u] = splat(static_cast<float>(t)) >= first_step[u] ? back : dh[u];
        } else {
          dh[u] = back;
        }
      }
    }
  }
  for (int k = 0; k < 16; ++k) {
    for (int j = 0; j < kLanes; ++j) sums[k] += acc[k][j];
  }
  static const int kFromSum[17] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 9, 10, 12, 13, 14};
  for (int i = 0; i < 17; ++i) grad_out[i] = static_cast<float>(sums[kFromSum[i]]);
  *loss_out = static_cast<float>(sums[15] / static_cast<double>(B));
  return true;
}

}  // namespace gru_jax_native
