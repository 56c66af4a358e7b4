// Setup of a seed, the numbers of jax's generator bit for bit: the adding-problem dataset that
// gru_jax.data.jax_dataset_raw draws and gru_jax.data.prepare scales, and the first sample
// order that jax.random.permutation gives (gru_jax.data.first_order). Included by kernels.cc
// only.
//
// The keys are derived in jax (gru_jax.native.draws): these functions start from the raw key
// data of each draw. Every draw is jax's partitionable threefry random_bits: element i of a
// draw of shape (N, W) (row-major) is Threefry-2x32 of the count (0, i), its two output words
// xored (gru_jax.prng._random_bits).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace gru_jax_native {

typedef uint32_t U32x8 __attribute__((vector_size(32)));

// Threefry-2x32, 20 rounds (Salmon et al. 2011), of the counts (0, first) .. (0, first + 15)
// under key (k0, k1), each count's two output words xored. Eight counts a vector, two vectors
// interleaved statement by statement (the 20 rounds are one dependent chain; two chains fill
// the pipes).
inline void threefry_block16(uint32_t k0, uint32_t k1, uint32_t first, uint32_t* out) {
  const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  const uint32_t schedule[3] = {k0, k1, k2};
  constexpr int kRotations[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const U32x8 lanes = {0, 1, 2, 3, 4, 5, 6, 7};
  U32x8 a0 = U32x8{} + k0, b0 = U32x8{} + k0;
  U32x8 a1 = lanes + (first + k1), b1 = lanes + (first + 8 + k1);
#pragma GCC unroll 5
  for (int block = 0; block < 5; ++block) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const int d = kRotations[block % 2][r];
      a0 += a1;
      b0 += b1;
      a1 = a0 ^ ((a1 << d) | (a1 >> (32 - d)));
      b1 = b0 ^ ((b1 << d) | (b1 >> (32 - d)));
    }
    const uint32_t add0 = schedule[(block + 1) % 3];
    const uint32_t add1 = schedule[(block + 2) % 3] + static_cast<uint32_t>(block + 1);
    a0 += add0;
    b0 += add0;
    a1 += add1;
    b1 += add1;
  }
  const U32x8 a = a0 ^ a1, b = b0 ^ b1;
  std::memcpy(out, &a, sizeof(a));
  std::memcpy(out + 8, &b, sizeof(b));
}

// Words first .. first + count - 1 of the draw with key (key[0], key[1]); the last partial
// block of 16 is made whole and cut.
inline void random_words(const uint32_t* key, int64_t first, int64_t count, uint32_t* out) {
  const uint32_t k0 = key[0], k1 = key[1];  // locals: the stores to out cannot change them
  uint32_t tail[16];
  for (int64_t i = 0; i < count; i += 16) {    // one call site: the block stays inlined
    const bool whole = i + 16 <= count;
    threefry_block16(k0, k1, static_cast<uint32_t>(first + i), whole ? out + i : tail);
    if (!whole) std::memcpy(out + i, tail, sizeof(uint32_t) * (count - i));
  }
}

// Scratch of one thread: the three draws of a dataset.
struct DatasetScratch {
  std::vector<uint32_t> high, low, flag;
};

// Longest row the dataset kernel ranks (gru_jax.native.draws.MAX_WIDTH).
constexpr int64_t kMaxWidth = 64;

// a % d for a divisor fixed over many calls (Lemire, Kaser & Kurz 2019, "Faster remainder by
// direct computation"): exact for every 32-bit a and d >= 1, two multiplies instead of a
// division. magic = 2^64 / d rounded up, from fastmod_magic(d).
inline uint64_t fastmod_magic(uint32_t d) { return UINT64_C(0xFFFFFFFFFFFFFFFF) / d + 1; }

inline uint32_t fastmod(uint32_t a, uint64_t magic, uint32_t d) {
  const uint64_t low = magic * a;
  return static_cast<uint32_t>((static_cast<unsigned __int128>(low) * d) >> 64);
}

// Rows [first, first + count) of a dataset from its per-element draws: the flags (the num_ones
// smallest scores of a row, ranked as a stable sort ranks them), x (count, width, 2) with the
// value channel times `scale`, and y (count, 1), the sum of the flagged values times `scale_y`
// (1: raw). W > 0: the width as a compile-time constant (the common short rows); W = 0:
// `width` at run time.
template <int W>
void dataset_rows(const uint32_t* value, const float* score, int32_t num_ones, int64_t first,
                  int64_t count, int64_t width, float scale, float scale_y, float* x, float* y) {
  const int64_t w = W > 0 ? W : width;
  for (int64_t row = 0; row < count; ++row) {
    const uint32_t* v = value + (first + row) * w;
    const float* s = score + (first + row) * w;
    float* out = x + row * w * 2;
    int32_t total = 0;
    for (int64_t t = 0; t < w; ++t) {
      int32_t rank = 0;
      for (int64_t u = 0; u < w; ++u) rank += (s[u] < s[t]) | ((s[u] == s[t]) & (u < t));
      const bool flagged = rank < num_ones;
      out[2 * t] = static_cast<float>(static_cast<int32_t>(v[t])) * scale;
      out[2 * t + 1] = flagged ? 1.0f : 0.0f;
      total += flagged ? static_cast<int32_t>(v[t]) : 0;
    }
    y[row] = scale_y == 1.0f ? static_cast<float>(total) : static_cast<float>(total) * scale_y;
  }
}

// The outputs of one seed's dataset: gru_jax.data.Dataset's four arrays.
struct DatasetOut {
  float* x_train;  // (n_train, width, 2), values scaled
  float* y_train;  // (n_train, 1), scaled
  float* x_test;   // (n - n_train, width, 2), values scaled
  float* y_test;   // (n - n_train, 1), raw
};

// One seed's dataset, as gru_jax.data.prepare(jax_dataset_raw(...)) makes it under jit.
//
// keys: (3, 2) the key data of randint's two words (split(value_key)) and of the flag
// uniforms (flag_key). Values are randint(value_key, (n, width), 0, high): span = high,
// offset = ((hi % span) * (2^32 % span) + lo % span) % span in uint32 arithmetic, as jax forms
// it (2^32 % span as ((2^16 % span)^2) % span). Flags: the num_ones smallest of the uniforms
// ((word >> 9 | 1.0f bits) - 1) over the row's real steps (the last `length`; padded steps
// score 2 and hold the value 0). Scaling: XLA compiles prepare's `value / high` and `y / high`
// as a multiplication by the float32 reciprocal of high, so the kernel multiplies by it too
// (tests/test_inputs.py compares every number with the XLA program's).
inline void seed_dataset(const uint32_t* keys, int32_t length, int32_t num_ones, int32_t high,
                         int64_t n, int64_t n_train, int64_t width, const DatasetOut& out,
                         DatasetScratch& scratch) {
  constexpr int64_t kBlockRows = 256;                  // the block's draws stay in L1/L2
  scratch.high.resize(kBlockRows * width);
  scratch.low.resize(kBlockRows * width);
  scratch.flag.resize(kBlockRows * width);
  uint32_t* high_words = scratch.high.data();
  uint32_t* low_words = scratch.low.data();
  uint32_t* flag_words = scratch.flag.data();
  uint32_t* value = high_words;                         // in place: high -> value
  float* score = reinterpret_cast<float*>(flag_words);  // and flag -> score
  const uint32_t span = high > 0 ? static_cast<uint32_t>(high) : 1u;
  const uint64_t magic = fastmod_magic(span);
  uint32_t multiplier = (1u << 16) % span;
  multiplier = (multiplier * multiplier) % span;
  const int64_t first_real = width - length;
  const float scale = 1.0f / static_cast<float>(high);
  for (int64_t r0 = 0; r0 < n; r0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, n - r0), count = rows * width;
    random_words(keys, r0 * width, count, high_words);
    random_words(keys + 2, r0 * width, count, low_words);
    random_words(keys + 4, r0 * width, count, flag_words);
    for (int64_t i = 0, t = 0; i < count; ++i) {
      const uint32_t offset = fastmod(
          fastmod(high_words[i], magic, span) * multiplier + fastmod(low_words[i], magic, span),
          magic, span);
      const uint32_t bits = (flag_words[i] >> 9) | 0x3F800000u;
      float uniform;
      std::memcpy(&uniform, &bits, sizeof(uniform));
      const bool real = t >= first_real;               // t = i % width
      value[i] = real ? offset : 0u;
      score[i] = real ? uniform - 1.0f : 2.0f;
      t = t + 1 == width ? 0 : t + 1;
    }
    const int64_t train = std::clamp<int64_t>(n_train - r0, 0, rows);   // of this block
    const int64_t row2 = width * 2;
    auto write = [&](auto kernel) {
      kernel(value, score, num_ones, 0, train, width, scale, scale, out.x_train + r0 * row2,
             out.y_train + r0);
      const int64_t test0 = std::max<int64_t>(r0 - n_train, 0);
      kernel(value, score, num_ones, train, rows - train, width, scale, 1.0f,
             out.x_test + test0 * row2, out.y_test + test0);
    };
    switch (width) {
      case 2: write(dataset_rows<2>); break;
      case 3: write(dataset_rows<3>); break;
      case 4: write(dataset_rows<4>); break;
      case 5: write(dataset_rows<5>); break;
      case 6: write(dataset_rows<6>); break;
      case 8: write(dataset_rows<8>); break;
      default: write(dataset_rows<0>); break;
    }
  }
}

// One seed's first order: `rounds` rounds of jax.random.permutation's sort shuffle over n
// positions, round r sorting by the n words of the draw with key keys[2r], keys[2r + 1]. A round
// sorts the distinct keys (word << 32 | position), which orders the positions stably by their
// words, and composes: order <- order[perm], starting from the identity. The sort: one
// counting pass into about n buckets by the words' top bits, then an insertion sort, which
// only has to order the few keys that share a bucket (random words: ~1 a bucket).
inline void seed_first_order(const uint32_t* keys, int64_t rounds, int64_t n, int32_t* out,
                             std::vector<uint32_t>& w, std::vector<uint64_t>& pairs,
                             std::vector<uint64_t>& sorted, std::vector<int32_t>& previous,
                             std::vector<uint32_t>& counts) {
  int top = 1;
  while (top < 16 && (int64_t{1} << top) < n) ++top;          // about one bucket a key
  const int shift = 64 - top;
  w.resize(n);
  pairs.resize(n);
  sorted.resize(n);
  previous.resize(n);
  counts.resize(size_t{1} << top);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(i);
  for (int64_t round = 0; round < rounds; ++round) {
    random_words(keys + 2 * round, 0, n, w.data());
    for (int64_t i = 0; i < n; ++i) {
      pairs[i] = (static_cast<uint64_t>(w[i]) << 32) | static_cast<uint64_t>(i);
    }
    std::fill(counts.begin(), counts.end(), 0u);
    for (int64_t i = 0; i < n; ++i) ++counts[pairs[i] >> shift];
    uint32_t total = 0;
    for (auto& c : counts) {
      const uint32_t here = c;
      c = total;
      total += here;
    }
    for (int64_t i = 0; i < n; ++i) sorted[counts[pairs[i] >> shift]++] = pairs[i];
    for (int64_t i = 1; i < n; ++i) {
      const uint64_t key = sorted[i];
      int64_t j = i;
      for (; j > 0 && sorted[j - 1] > key; --j) sorted[j] = sorted[j - 1];
      sorted[j] = key;
    }
    std::copy(out, out + n, previous.begin());
    for (int64_t i = 0; i < n; ++i) out[i] = previous[static_cast<uint32_t>(sorted[i])];
  }
}

}  // namespace gru_jax_native
