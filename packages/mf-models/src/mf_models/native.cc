// mf's fused float32 CPU kernels, run by MindSpore as "aot" Custom ops (see native.py).
//
// Each kernel is one pass over its data where MindSpore's CPU backend runs three to seven element-wise kernels,
// each of them single-threaded and each writing a full-size temporary. Every function has MindSpore's aot
// signature: params holds the inputs, then the outputs; shapes[i] has ndims[i] extents.

#include <cfloat>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

namespace {

int g_threads = 1;
constexpr int64_t kSerialBelow = 1 << 15;  // elements: below this a parallel region costs more than it saves

int64_t Numel(int i, int *ndims, int64_t **shapes) {
  int64_t n = 1;
  for (int d = 0; d < ndims[i]; d++) n *= shapes[i][d];
  return n;
}

int Threads(int64_t work) { return work < kSerialBelow ? 1 : g_threads; }

// fn(begin, end, part) over [0, n) in `threads` contiguous parts (the same parts for the same n and threads, so
// sums per part are deterministic), part 0 on the calling thread. Threads are started per call and joined: an
// OpenMP pool's idle workers spin, and on two cores they took 10% of a tiny model's train step from MindSpore's
// own threads.
template <typename F>
void ParallelFor(int64_t n, int threads, F fn) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  const int64_t chunk = (n + parts - 1) / parts;
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < parts; t++) {
    const int64_t lo = t * chunk, hi = std::min(n, lo + chunk);
    if (lo >= hi) break;
    try {
      pool.emplace_back(fn, lo, hi, static_cast<int>(t));
    } catch (const std::system_error &) {
      fn(lo, hi, static_cast<int>(t));  // no thread to be had: this part on the caller too
    }
  }
  fn(0, std::min(n, chunk), 0);
  for (auto &th : pool) th.join();
}

}  // namespace

extern "C" {

void mf_native_set_threads(int n) { g_threads = n < 1 ? 1 : n; }

int mf_native_threads() { return g_threads; }

// out = silu(gate) * up
int mf_swiglu(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *g = static_cast<const float *>(params[0]);
  const float *u = static_cast<const float *>(params[1]);
  float *out = static_cast<float *>(params[2]);
  const int64_t n = Numel(0, ndims, shapes);
  ParallelFor(n, Threads(n), [&](int64_t lo, int64_t hi, int) {
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
      const float x = g[i];
      out[i] = x / (1.0f + expf(-x)) * u[i];
    }
  });
  return 0;
}

// (d gate, d up) of silu(gate) * up, given d out
int mf_swiglu_grad(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *g = static_cast<const float *>(params[0]);
  const float *u = static_cast<const float *>(params[1]);
  const float *dout = static_cast<const float *>(params[2]);
  float *dg = static_cast<float *>(params[3]);
  float *du = static_cast<float *>(params[4]);
  const int64_t n = Numel(0, ndims, shapes);
  ParallelFor(n, Threads(n), [&](int64_t lo, int64_t hi, int) {
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
      const float x = g[i];
      const float s = 1.0f / (1.0f + expf(-x));
      du[i] = dout[i] * x * s;
      dg[i] = dout[i] * u[i] * s * (1.0f + x * (1.0f - s));
    }
  });
  return 0;
}

// probs = softmax(scores + bias) over the last axis; scores (b, h, s, L), bias (b, 1 or h, s, L)
int mf_softmax_bias(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *x = static_cast<const float *>(params[0]);
  const float *bias = static_cast<const float *>(params[1]);
  float *out = static_cast<float *>(params[2]);
  const int64_t b = shapes[0][0], h = shapes[0][1], s = shapes[0][2], len = shapes[0][3];
  const int64_t bias_heads = shapes[1][1];
  const int64_t rows = b * h * s;
  ParallelFor(rows, Threads(rows * len), [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; r++) {
      const int64_t bi = r / (h * s), head = (r / s) % h, si = r % s;
      const float *xr = x + r * len;
      const float *br = bias + ((bi * bias_heads + (bias_heads == 1 ? 0 : head)) * s + si) * len;
      float *o = out + r * len;
      float top = -FLT_MAX;  // -ffast-math: no infinities
#pragma omp simd reduction(max : top)
      for (int64_t j = 0; j < len; j++) {
        o[j] = xr[j] + br[j];
        top = o[j] > top ? o[j] : top;
      }
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < len; j++) {
        o[j] = expf(o[j] - top);
        sum += o[j];
      }
      const float inv = 1.0f / sum;
#pragma omp simd
      for (int64_t j = 0; j < len; j++) o[j] *= inv;
    }
  });
  return 0;
}

// d scores of softmax over the last axis, given its output and d output: p * (dp - sum(p * dp))
int mf_softmax_grad(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *p = static_cast<const float *>(params[0]);
  const float *dp = static_cast<const float *>(params[1]);
  float *dx = static_cast<float *>(params[2]);
  const int64_t len = shapes[0][ndims[0] - 1];
  const int64_t rows = Numel(0, ndims, shapes) / len;
  ParallelFor(rows, Threads(rows * len), [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; r++) {
      const float *pr = p + r * len, *dr = dp + r * len;
      float *o = dx + r * len;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < len; j++) dot += pr[j] * dr[j];
#pragma omp simd
      for (int64_t j = 0; j < len; j++) o[j] = pr[j] * (dr[j] - dot);
    }
  });
  return 0;
}

// (y, rstd) of RMSNorm over the last axis: rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * weight;
// inputs x (..., d), weight (d), eps (1)
int mf_rms_norm(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float eps = *static_cast<const float *>(params[2]);
  float *y = static_cast<float *>(params[3]);
  float *rstd = static_cast<float *>(params[4]);
  const int64_t d = shapes[0][ndims[0] - 1];
  const int64_t rows = Numel(0, ndims, shapes) / d;
  ParallelFor(rows, Threads(rows * d), [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; r++) {
      const float *xr = x + r * d;
      float *yr = y + r * d;
      float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
      for (int64_t j = 0; j < d; j++) sq += xr[j] * xr[j];
      const float k = 1.0f / sqrtf(sq / static_cast<float>(d) + eps);
      rstd[r] = k;
#pragma omp simd
      for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * k * w[j];
    }
  });
  return 0;
}

// (d x, d weight) of RMSNorm, given x, weight, rstd and d y
int mf_rms_norm_grad(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *rstd = static_cast<const float *>(params[2]);
  const float *dy = static_cast<const float *>(params[3]);
  float *dx = static_cast<float *>(params[4]);
  float *dw = static_cast<float *>(params[5]);
  const int64_t d = shapes[0][ndims[0] - 1];
  const int64_t rows = Numel(0, ndims, shapes) / d;
  const int threads = Threads(rows * d);
  std::vector<float> partial(static_cast<size_t>(threads) * d, 0.0f);
  ParallelFor(rows, threads, [&](int64_t lo, int64_t hi, int part) {
    float *acc = partial.data() + static_cast<int64_t>(part) * d;
    for (int64_t r = lo; r < hi; r++) {
      const float *xr = x + r * d, *dyr = dy + r * d;
      float *dxr = dx + r * d;
      const float k = rstd[r];
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < d; j++) {
        dot += dyr[j] * w[j] * xr[j];
        acc[j] += dyr[j] * xr[j] * k;
      }
      const float c = dot * k * k / static_cast<float>(d);
#pragma omp simd
      for (int64_t j = 0; j < d; j++) dxr[j] = k * (dyr[j] * w[j] - xr[j] * c);
    }
  });
  for (int64_t j = 0; j < d; j++) {
    float total = 0.0f;
    for (int t = 0; t < threads; t++) total += partial[static_cast<size_t>(t) * d + j];
    dw[j] = total;
  }
  return 0;
}

// (nll, lse) of cross-entropy per row: lse = log(sum(exp(logits))), nll = lse - logits[label];
// logits (n, v), labels (n) int32
int mf_cross_entropy(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *x = static_cast<const float *>(params[0]);
  const int32_t *labels = static_cast<const int32_t *>(params[1]);
  float *nll = static_cast<float *>(params[2]);
  float *lse = static_cast<float *>(params[3]);
  const int64_t n = shapes[0][0], v = shapes[0][1];
  ParallelFor(n, Threads(n * v), [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; r++) {
      const float *xr = x + r * v;
      float top = -FLT_MAX;
#pragma omp simd reduction(max : top)
      for (int64_t j = 0; j < v; j++) top = xr[j] > top ? xr[j] : top;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < v; j++) sum += expf(xr[j] - top);
      lse[r] = top + logf(sum);
      const int32_t label = labels[r];
      nll[r] = label >= 0 && label < v ? lse[r] - xr[label] : NAN;  // an id outside the vocabulary: NaN, no read
    }
  });
  return 0;
}

// d logits of cross-entropy: d_nll[r] * (softmax(logits[r]) - onehot(label[r])), given logits, labels, lse, d_nll
int mf_cross_entropy_grad(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *x = static_cast<const float *>(params[0]);
  const int32_t *labels = static_cast<const int32_t *>(params[1]);
  const float *lse = static_cast<const float *>(params[2]);
  const float *dnll = static_cast<const float *>(params[3]);
  float *dx = static_cast<float *>(params[4]);
  const int64_t n = shapes[0][0], v = shapes[0][1];
  ParallelFor(n, Threads(n * v), [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; r++) {
      const float *xr = x + r * v;
      float *o = dx + r * v;
      const float g = dnll[r], m = lse[r];
#pragma omp simd
      for (int64_t j = 0; j < v; j++) o[j] = g * expf(xr[j] - m);
      if (labels[r] >= 0 && labels[r] < v) o[labels[r]] -= g;
    }
  });
  return 0;
}

// MindSpore's AdamWeightDecay step, in place on param, m and v (all float32, the same size), given grad and
// hyper = (lr, beta1, beta2, eps, weight_decay, grad_scale): with g = grad_scale grad, m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; p -= lr (m / (sqrt(v) + eps) + wd p). Returns 0 in its one-element output.
int mf_adam_weight_decay(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  float *p = static_cast<float *>(params[0]);
  float *m = static_cast<float *>(params[1]);
  float *v = static_cast<float *>(params[2]);
  const float *g = static_cast<const float *>(params[3]);
  const float *hyper = static_cast<const float *>(params[4]);
  float *done = static_cast<float *>(params[5]);
  const float lr = hyper[0], b1 = hyper[1], b2 = hyper[2], eps = hyper[3], wd = hyper[4], s = hyper[5];
  const int64_t n = Numel(0, ndims, shapes);
  ParallelFor(n, Threads(n), [&](int64_t lo, int64_t hi, int) {
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
      const float gi = s * g[i];
      const float mi = b1 * m[i] + (1.0f - b1) * gi;
      const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] -= lr * (mi / (sqrtf(vi) + eps) + wd * p[i]);
    }
  });
  done[0] = 0.0f;
  return 0;
}

// sum(x^2) over all elements of float32 x, into a one-element output (partial sums in double)
int mf_sum_of_squares(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const float *x = static_cast<const float *>(params[0]);
  float *out = static_cast<float *>(params[1]);
  const int64_t n = Numel(0, ndims, shapes);
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const int threads = Threads(n);
  std::vector<double> partial(static_cast<size_t>(threads), 0.0);
  ParallelFor(blocks, threads, [&](int64_t lo, int64_t hi, int part) {
    for (int64_t b = lo; b < hi; b++) {
      const int64_t start = b * kBlock, stop = std::min(n, start + kBlock);
      float block = 0.0f;
#pragma omp simd reduction(+ : block)
      for (int64_t i = start; i < stop; i++) block += x[i] * x[i];
      partial[part] += block;
    }
  });
  double total = 0.0;
  for (double v : partial) total += v;
  out[0] = static_cast<float>(total);
  return 0;
}

}  // extern "C"
