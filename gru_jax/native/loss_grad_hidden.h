// Loss and gradient of one optimizer step of the GRU at hidden size H (input 2, output 1), one
// seed: the same math as loss_grad_h1.h, with the unit loops and the small matrix-vector
// products unrolled at compile time (H is a template parameter). Included by kernels.cc only.
//
// Flat params, N(H) = 3H*2 + 3H*H + 3H + 3H + H + 1 (gru_jax.model.flatten_params order, each
// entry row-major, gate rows r, z, n):
//   W_ih (3H, 2) at 0, W_hh (3H, H) at 6H, b_ih (3H,) at 6H + 3H^2, b_hh (3H,) at 9H + 3H^2,
//   w_out (H,) at 12H + 3H^2, b_out at 13H + 3H^2.
//
// Per 8-lane block and real step t (x = (v, f), h the state before the step, i a unit):
//   forward   r_i = sig(W_ir x + b_ir + W_hr h + b_hr), z_i likewise, g_i = W_hn h + b_hn,
//             n_i = tanh(W_in x + b_in + r_i g_i), h'_i = (1 - z_i) n_i + z_i h_i
//   backward  (dh = dL/dh')  a_n = dh (1 - z) (1 - n^2), a_g = a_n r, a_z = dh (h - n) z (1 - z),
//             a_r = a_n g r (1 - r): the gradients of the pre-activations; then
//             dL/dh_k = dh_k z_k + sum_i (W_hr[i,k] a_r_i + W_hz[i,k] a_z_i + W_hn[i,k] a_g_i).
// The parameter gradients are sums over (sample, step) of outer products: with the "left"
// vector L = (a_r, a_z, a_g, a_n) (4H) and the "right" vector R = (v, f, 1, h) (H + 3),
//   dW_ir = L[a_r] x R[v, f], dW_hr = L[a_r] x R[h], db_ir = db_hr = L[a_r] x R[1],
//   dW_iz, dW_hz, db_iz, db_hz likewise from a_z, dW_hn = L[a_g] x R[h], db_hn = L[a_g] x R[1],
//   dW_in = L[a_n] x R[v, f], db_in = L[a_n] x R[1]:
// so L and R of every (sample, step) of a chunk are kept, and after the chunk's backward pass
// the needed blocks of sum L R^T are formed with register-blocked outer products (each
// accumulator loaded and stored once per chunk, not once per sample and step).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "rows.h"
#include "vector_math.h"

namespace gru_jax_native {

constexpr int64_t flat_params(int H) { return 3 * H * 2 + 3 * H * H + 6 * H + H + 1; }

// out[i] += sum_k w[i * RS + k * CS] x[k] for i < ROWS, k < COLS (w row-major with strides RS,
// CS: the forward product W_hh h has RS = H, CS = 1; the backward W_hh^T a has RS = 1, CS = H).
// Eight output rows at a time stay in registers while the columns stream past: eight
// independent FMA chains (latency hidden), one load of x[k] per eight weight broadcasts.
template <int ROWS, int COLS, int RS, int CS, int R0 = 0>
inline void matvec(const float* w, const Vec* x, Vec* out) {
  if constexpr (R0 < ROWS) {
    constexpr int RB = ROWS - R0 < 8 ? ROWS - R0 : 8;
    Vec sum[RB];
    for (int i = 0; i < RB; ++i) sum[i] = out[R0 + i];
    for (int k = 0; k < COLS; ++k) {
      const Vec xk = x[k];
      for (int i = 0; i < RB; ++i) sum[i] += w[(R0 + i) * RS + k * CS] * xk;
    }
    for (int i = 0; i < RB; ++i) out[R0 + i] = sum[i];
    matvec<ROWS, COLS, RS, CS, R0 + RB>(w, x, out);
  }
}

// acc[(row0 + a) * NR + col0 + c] += sum_e left[e * NL + row0 + a] * right[e * NR + col0 + c]
// for a < 4, c < 3: one 4 x 3 register block of the outer-product sums, over `entries` entries
// (12 FMAs per 7 loads; each accumulator loaded and stored once).
template <int NL, int NR>
inline void outer_block(const Vec* left, const Vec* right, int64_t entries, int row0, int col0,
                        Vec* acc) {
  constexpr int RB = 4, CB = 3;
  Vec sum[RB][CB];
  for (int a = 0; a < RB; ++a) {
    for (int c = 0; c < CB; ++c) sum[a][c] = acc[(row0 + a) * NR + col0 + c];
  }
  for (int64_t e = 0; e < entries; ++e) {
    Vec r[CB];
    for (int c = 0; c < CB; ++c) r[c] = right[e * NR + col0 + c];
    for (int a = 0; a < RB; ++a) {
      const Vec l = left[e * NL + row0 + a];
      for (int c = 0; c < CB; ++c) sum[a][c] += l * r[c];
    }
  }
  for (int a = 0; a < RB; ++a) {
    for (int c = 0; c < CB; ++c) acc[(row0 + a) * NR + col0 + c] = sum[a][c];
  }
}

// PerRow: per-row lengths, as in loss_grad_h1.h (a sample's steps before its own `first` keep
// h and add nothing to the gradient).
template <int H, bool PerRow>
inline bool seed_loss_grad_hidden(const float* p, const float* rows, const int32_t* index,
                                  const float* valid, const StepShape& shape, float* loss_out,
                                  float* grad_out) {
  constexpr int G = 3 * H;           // gate rows
  constexpr int NL = 4 * H;          // left vector: a_r, a_z, a_g, a_n
  constexpr int NR = (H + 3 + 2) / 3 * 3;  // right vector: v, f, 1, h, zeros to a multiple of 3
  constexpr int U = H <= 2 ? 2 : 1;  // blocks interleaved in the recurrence (latency)
  constexpr int NB = 4;              // 8-lane blocks a chunk (32 samples)
  constexpr int W = NB * kLanes;
  const float* w_ih = p;
  const float* w_hh = p + 6 * H;
  const float* b_ih = p + 6 * H + 3 * H * H;
  const float* b_hh = b_ih + G;
  const float* w_out = b_hh + G;
  const float b_out = w_out[H];
  const int64_t T = shape.steps, B = shape.batch, n = shape.n, width = shape.width;

  // Real steps, in order (the valid mask is the same for every sample of the seed).
  thread_local std::vector<int64_t> real_steps;
  real_steps.clear();
  for (int64_t t = 0; t < T; ++t) {
    if (valid[t] != 0.0f) real_steps.push_back(t);
  }
  const int64_t S = static_cast<int64_t>(real_steps.size());
  // Per chunk entry e = b * S + s (block b, real step s; live blocks first): L (NL vectors),
  // R (NR vectors) and the gates r, z, n, g (4H vectors).
  thread_local std::vector<Vec> left, right, gates;
  thread_local std::vector<float> inputs;
  left.resize(static_cast<size_t>(S * NB * NL));
  right.resize(static_cast<size_t>(S * NB * NR));
  gates.resize(static_cast<size_t>(S * NB * 4 * H));
  inputs.resize(static_cast<size_t>(T + 3) / 4 * 8 * W);
  // Accumulators, per lane: sum L R^T as (NL, NR) (rows below 3H rounded up to 4 over all
  // columns, the other a_n rows over the first three), w_out (H), b_out, loss. Summed over chunks in float per lane, then over
  // lanes in double.
  thread_local std::vector<Vec> acc;
  acc.assign(NL * NR + H + 2, Vec{});
  Vec* acc_out = &acc[NL * NR];
  const float inv_batch = 1.0f / static_cast<float>(B);
  const Vec one = splat(1.0f);

  // Inline on purpose (also in the other loss kernel): the same loop as one rows.h helper
  // trained 1.6x slower at H = 1 although the kernel alone was not (PERF_NOTES row 27).
  constexpr int64_t kAhead = 2 * W;  // prefetch the rows two chunks ahead (DRAM latency)
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
    const int blocks = static_cast<int>(
        std::min<int64_t>(NB, (B - start + kLanes - 1) / kLanes + U - 1) / U * U);
    for (int b0 = 0; b0 < blocks; b0 += U) {
      // ---- forward ----
      Vec h[U][H];
      for (int u = 0; u < U; ++u) {
        for (int i = 0; i < H; ++i) h[u][i] = Vec{};
      }
      for (int64_t s = 0; s < S; ++s) {
        const int64_t t = real_steps[s];
        for (int u = 0; u < U; ++u) {
          const int b = b0 + u;
          const Vec v = load(&inputs[(t * 2 + 0) * W + b * kLanes]);
          const Vec f = load(&inputs[(t * 2 + 1) * W + b * kLanes]);
          Vec* R = &right[(b * S + s) * NR];
          Vec* act = &gates[(b * S + s) * 4 * H];
          R[0] = v;
          R[1] = f;
          R[2] = one;
          for (int i = 0; i < H; ++i) R[3 + i] = h[u][i];
          for (int i = H + 3; i < NR; ++i) R[i] = Vec{};
          // pre: W_ih x + b_ih + (W_hh h + b_hh), the n rows without the hidden term (hid_n).
          Vec hid[G], pre[G];
          for (int j = 0; j < G; ++j) hid[j] = splat(b_hh[j]);
          matvec<G, H, H, 1>(w_hh, h[u], hid);
          for (int j = 0; j < G; ++j) {
            const Vec xj = w_ih[2 * j] * v + w_ih[2 * j + 1] * f + b_ih[j];
            pre[j] = j < 2 * H ? xj + hid[j] : xj;
          }
          const Vec* hid_n = hid + 2 * H;
          for (int i = 0; i < H; ++i) {
            const Vec r = sigmoid_vec(pre[i]);
            const Vec z = sigmoid_vec(pre[H + i]);
            const Vec nn = tanh_vec(pre[2 * H + i] + r * hid_n[i]);
            act[i] = r;
            act[H + i] = z;
            act[2 * H + i] = nn;
            act[3 * H + i] = hid_n[i];
            const Vec next = (1.0f - z) * nn + z * h[u][i];
            if constexpr (PerRow) {
              h[u][i] = splat(static_cast<float>(t)) >= load(&first[b * kLanes]) ? next : h[u][i];
            } else {
              h[u][i] = next;
            }
          }
        }
      }
      // ---- loss and output layer ----
      Vec dh[U][H];
      for (int u = 0; u < U; ++u) {
        const int b = b0 + u;
        Vec y = w_out[0] * h[u][0];
        for (int i = 1; i < H; ++i) y += w_out[i] * h[u][i];
        const Vec e = (y + b_out - load(&target[b * kLanes])) * load(&live[b * kLanes]);
        const Vec dy = 2.0f * e * inv_batch;
        for (int i = 0; i < H; ++i) {
          acc_out[i] += dy * h[u][i];
          dh[u][i] = dy * w_out[i];
        }
        acc_out[H] += dy;
        acc_out[H + 1] += e * e;
      }
      // ---- backward ----
      for (int64_t s = S - 1; s >= 0; --s) {
        for (int u = 0; u < U; ++u) {
          const int b = b0 + u;
          const Vec* R = &right[(b * S + s) * NR];
          const Vec* act = &gates[(b * S + s) * 4 * H];
          Vec* L = &left[(b * S + s) * NL];
          Vec next[H];
          [[maybe_unused]] Vec real_step;   // PerRow: 1 where the step is real, 0 on padding
          if constexpr (PerRow) {
            real_step = splat(static_cast<float>(real_steps[s])) >= load(&first[b * kLanes])
                            ? splat(1.0f) : Vec{};
          }
          for (int i = 0; i < H; ++i) {
            const Vec r = act[i], z = act[H + i], nn = act[2 * H + i], g = act[3 * H + i];
            Vec dh_step = dh[u][i];          // dL/dh' where the step is real, 0 on padding
            if constexpr (PerRow) dh_step = real_step != 0.0f ? dh_step : Vec{};
            const Vec an = dh_step * (1.0f - z) * (1.0f - nn * nn);
            const Vec ag = an * r;
            const Vec az = dh_step * (R[3 + i] - nn) * (z * (1.0f - z));
            const Vec ar = an * g * (r * (1.0f - r));
            L[i] = ar;
            L[H + i] = az;
            L[2 * H + i] = ag;
            L[3 * H + i] = an;
            next[i] = dh_step * z;
          }
          matvec<H, G, 1, H>(w_hh, L, next);
          for (int k = 0; k < H; ++k) {
            if constexpr (PerRow) {
              dh[u][k] = real_step != 0.0f ? next[k] : dh[u][k];
            } else {
              dh[u][k] = next[k];
            }
          }
        }
      }
    }
    // ---- parameter gradients: sum over the chunk's entries of L R^T ----
    // Rows a_r, a_z, a_g (3H, rounded up to 4) against every column; the remaining a_n rows
    // against v, f, 1. No accumulator is in both.
    const int64_t entries = S * blocks;
    constexpr int kFullRows = (G + 3) / 4 * 4;
    for (int row0 = 0; row0 < kFullRows; row0 += 4) {
      for (int col0 = 0; col0 < NR; col0 += 3) {
        outer_block<NL, NR>(left.data(), right.data(), entries, row0, col0, acc.data());
      }
    }
    for (int row0 = kFullRows; row0 < NL; row0 += 4) {
      outer_block<NL, NR>(left.data(), right.data(), entries, row0, 0, acc.data());
    }
  }

  // Lanes -> double sums -> the flat gradient.
  auto total = [&](int k) {
    double sum = 0.0;
    for (int j = 0; j < kLanes; ++j) sum += acc[k][j];
    return sum;
  };
  auto summed = [&](int row, int col) { return static_cast<float>(total(row * NR + col)); };
  float* g_wih = grad_out;
  float* g_whh = grad_out + 6 * H;
  float* g_bih = g_whh + 3 * H * H;
  float* g_bhh = g_bih + G;
  float* g_out = g_bhh + G;
  for (int gate = 0; gate < 3; ++gate) {
    // Left rows of each gate's input-side gradient (a_r, a_z, a_n) and hidden side (a_r, a_z,
    // a_g).
    const int in_row = gate < 2 ? gate * H : 3 * H;
    const int hid_row = gate * H;
    for (int i = 0; i < H; ++i) {
      const int j = gate * H + i;
      g_wih[2 * j] = summed(in_row + i, 0);
      g_wih[2 * j + 1] = summed(in_row + i, 1);
      for (int k = 0; k < H; ++k) g_whh[j * H + k] = summed(hid_row + i, 3 + k);
      g_bih[j] = summed(in_row + i, 2);
      g_bhh[j] = summed(hid_row + i, 2);
    }
  }
  for (int i = 0; i <= H; ++i) g_out[i] = static_cast<float>(total(NL * NR + i));
  *loss_out = static_cast<float>(total(NL * NR + H + 1) / static_cast<double>(B));
  return true;
}

}  // namespace gru_jax_native
