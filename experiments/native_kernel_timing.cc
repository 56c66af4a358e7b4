// One thread's CPU time of the native loss-and-gradient kernel per training sample (T = 4,
// batch 256 drawn from 8,000 rows held in cache), at each compiled hidden size 1..16 listed
// below. Thread CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so that the figure holds on
// a machine shared with other jobs. Build and run from the repository root:
//
//   g++ -O3 -march=native -std=c++17 -fno-math-errno -fno-trapping-math -Igru_jax/native \
//       experiments/native_kernel_timing.cc -o /tmp/native_kernel_timing && /tmp/native_kernel_timing
//
// (the flags of gru_jax/native/build.py that matter for the loop). Per seed-epoch on C cores:
// ns per sample x 8,000 / C.
#include <cstdio>
#include <ctime>
#include <random>
#include <vector>

#include "loss_grad_h1.h"
#include "loss_grad_hidden.h"

using namespace gru_jax_native;

double thread_seconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec + 1e-9 * now.tv_nsec;
}

template <int H>
void time_hidden(int repeats) {
  const int n = 8000, steps = 4, batch = 256, width = 16;
  std::mt19937 bits(1);
  std::uniform_real_distribution<float> uniform(0, 1);
  std::vector<float> rows(n * width, 0.0f);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 2 * steps + 1; ++j) rows[i * width + j] = uniform(bits);
  }
  std::vector<int32_t> index(batch);
  for (auto& i : index) i = static_cast<int32_t>(bits() % n);
  std::vector<float> params(flat_params(H)), grad(flat_params(H));
  for (auto& p : params) p = uniform(bits) - 0.5f;
  const float valid[4] = {1, 1, 1, 1};
  const StepShape shape{n, steps, width, batch};
  float loss;
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {   // best of 5: other jobs only ever add time
    const double start = thread_seconds();
    for (int r = 0; r < repeats; ++r) {
      if constexpr (H == 1) {
        seed_loss_grad_h1(params.data(), rows.data(), index.data(), valid, shape, &loss,
                          grad.data());
      } else {
        seed_loss_grad_hidden<H>(params.data(), rows.data(), index.data(), valid, shape, &loss,
                                 grad.data());
      }
    }
    best = std::min(best, (thread_seconds() - start) / repeats);
  }
  const double ns = best / batch * 1e9;
  std::printf("H=%2d  %7.1f ns per sample  %.3f ms per seed-epoch on 2 cores\n", H, ns,
              ns * 8000 / 2 * 1e-6);
}

int main() {
  time_hidden<1>(400);
  time_hidden<2>(400);
  time_hidden<3>(200);
  time_hidden<4>(200);
  time_hidden<8>(60);
  time_hidden<12>(40);
  time_hidden<16>(20);
  return 0;
}
