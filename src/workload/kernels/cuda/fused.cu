// benchplan's fused CUDA kernels (issue 21): the LSTM recurrence, multi-head attention and
// layer norm, each with its backward, and AdamW's update. build.rs compiles this file to PTX
// with nvcc when the `cuda` feature is on; src/workload/kernels/cuda.rs loads and launches it.
// Every kernel has a Rust twin (the op's `cpu_fwd`) that the tests compare with candle's
// composed ops, and `benchplan check-kernels --device cuda` compares these with the same ops
// on the GPU. f32 only, contiguous inputs only (the Rust side checks both).

// Dynamic shared memory, sized by each launch (never above the 48 KiB default).
extern __shared__ __align__(16) float smem[];

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

// The gate arithmetic of one step for a block's rows: from the gates' pre-activations in
// shared memory to the new h and c (shared memory, for the next step) and the step's output
// rows of W floats each: h | c | pre-activations (W = 6H, for the backward), or h alone (W = H).
__device__ __forceinline__ void lstm_cell_update(const float* g_s, float* h_s, float* c_s,
                                                 float* out_rows, int rows, int H, int W) {
  const int G = 4 * H;
  for (int idx = threadIdx.x; idx < rows * H; idx += blockDim.x) {
    const int r = idx / H, k = idx % H;
    const float* g = g_s + r * G;
    const float pi = g[k], pf = g[H + k], pg = g[2 * H + k], po = g[3 * H + k];
    const float i = sigmoid_f(pi), f = sigmoid_f(pf), gg = tanhf(pg), o = sigmoid_f(po);
    const float c = f * c_s[idx] + i * gg;
    const float h = o * tanhf(c);
    c_s[idx] = c;
    h_s[idx] = h;
    float* row = out_rows + (size_t)r * W;
    row[k] = h;
    if (W > H) {
      row[H + k] = c;
      row[2 * H + k] = pi;
      row[3 * H + k] = pf;
      row[4 * H + k] = pg;
      row[5 * H + k] = po;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LSTM: one layer's whole recurrence in one launch. candle runs ~10 kernels per time step and
// layer (PyTorch calls cuDNN's fused RNN); here each block owns R batch rows for all T steps,
// keeps h and c in shared memory, and reads W_hhᵀ (L2-resident, 256 KB for hidden 128) once
// per step for all its rows. Batch rows are independent, so blocks never wait for each other.
//
// xproj: [T, B, 4H] the input projections x·W_ihᵀ + b_ih + b_hh, gate order i, f, g, o.
// w_hh_t: [H, 4H] W_hhᵀ, so that threads j of one k read consecutive addresses.
// out: [T, B, W]: with W = 6H, h | c | gate pre-activations (the backward reads c and the
// gates); with W = H (no gradient to compute), h alone, which the next layer reads as is.
template <int R>
__device__ void lstm_seq_fwd(const float* __restrict__ xproj, const float* __restrict__ w_hh_t,
                             float* __restrict__ out, int T, int B, int H, int W) {
  float* h_s = smem;         // [R][H]
  float* c_s = h_s + R * H;  // [R][H]
  float* g_s = c_s + R * H;  // [R][4H]
  const int G = 4 * H;
  const int b0 = blockIdx.x * R;
  const int rows = min(R, B - b0);
  for (int i = threadIdx.x; i < R * H; i += blockDim.x) {
    h_s[i] = 0.0f;
    c_s[i] = 0.0f;
  }
  __syncthreads();
  for (int t = 0; t < T; ++t) {
    for (int j = threadIdx.x; j < G; j += blockDim.x) {
      float acc[R];
#pragma unroll
      for (int r = 0; r < R; ++r)
        acc[r] = (r < rows) ? xproj[((size_t)t * B + b0 + r) * G + j] : 0.0f;
      if (t > 0) {  // h_{-1} = 0: the first step has no recurrent product
#pragma unroll 4
        for (int k = 0; k < H; ++k) {
          const float w = __ldg(&w_hh_t[(size_t)k * G + j]);
#pragma unroll
          for (int r = 0; r < R; ++r) acc[r] = fmaf(w, h_s[r * H + k], acc[r]);
        }
      }
#pragma unroll
      for (int r = 0; r < R; ++r) g_s[r * G + j] = acc[r];
    }
    __syncthreads();
    lstm_cell_update(g_s, h_s, c_s, out + ((size_t)t * B + b0) * W, rows, H, W);
    __syncthreads();
  }
}

// The same forward with W_hhᵀ resident on chip, for 64 ≤ H ≤ 128 (H a multiple of 8): one
// thread per gate column, blockDim.x == 4H, one block per SM. Rows [0, 64) of W_hhᵀ live in
// registers (64 per thread), rows [64, H) in shared memory (opted in above 48 KB).
//
// Why this layout (issue 21, second version): the first one kept 112 rows in shared memory
// and read h one float at a time; a step then moved ~3600 shared-memory wavefronts (1.8 µs at
// the H200's 128 B per clock) and took ~3 µs at batch 1. Here a step reads 64 rows of W from
// shared memory and h as float4 broadcasts (~1500 wavefronts at batch 1). Thread t owns gate
// q = t % 4 of hidden unit k = t / 4, so a unit's four gates sit in four adjacent lanes of one
// warp: they meet through shuffles, every warp does the cell update for its own units, and a
// step needs one barrier (h is double-buffered) instead of two and a trip through shared
// memory for the gates.
constexpr int LSTM_REG_ROWS = 64;

template <int R>
__device__ void lstm_seq_fwd_resident(const float* __restrict__ xproj,
                                      const float* __restrict__ w_hh_t, float* __restrict__ out,
                                      int T, int B, int H, int W) {
  const int G = 4 * H;
  const int KS = H - LSTM_REG_ROWS;  // rows of W_hhᵀ in shared memory
  const int tid = threadIdx.x;
  const int k = tid >> 2, q = tid & 3;
  const int col = q * H + k;  // this thread's column of W_hhᵀ (gate order i, f, g, o)
  float* w_s = smem;          // [KS][G]: row 64 + kk of W_hhᵀ, column col at position tid
  float* h_s = w_s + KS * G;  // [2][R][H], h of the previous step and of this one
  const int b0 = blockIdx.x * R;
  const int rows = min(R, B - b0);
  for (int kk = 0; kk < KS; ++kk)
    w_s[kk * G + tid] = w_hh_t[(size_t)(LSTM_REG_ROWS + kk) * G + col];
  float w_r[LSTM_REG_ROWS];
#pragma unroll
  for (int kk = 0; kk < LSTM_REG_ROWS; ++kk) w_r[kk] = w_hh_t[(size_t)kk * G + col];
  float c[R], x_cur[R], x_next[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    c[r] = 0.0f;
    x_cur[r] = (r < rows) ? xproj[(size_t)(b0 + r) * G + col] : 0.0f;
  }
  const int lane = tid & 31, unit_lane = lane & ~3;
  __syncthreads();
  for (int t = 0; t < T; ++t) {
    const float* h_prev = h_s + (t & 1) * R * H;
    float* h_next = h_s + ((t + 1) & 1) * R * H;
    // The next step's input projection, loaded now: its latency is off the critical path.
#pragma unroll
    for (int r = 0; r < R; ++r)
      x_next[r] = (t + 1 < T && r < rows) ? xproj[((size_t)(t + 1) * B + b0 + r) * G + col] : 0.0f;
    float acc[R][4];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int p = 0; p < 4; ++p) acc[r][p] = 0.0f;
    if (t > 0) {  // h_{-1} = 0: the first step has no recurrent product
#pragma unroll
      for (int kk = 0; kk < LSTM_REG_ROWS; kk += 4) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float4 hv = *reinterpret_cast<const float4*>(h_prev + r * H + kk);
          acc[r][0] = fmaf(w_r[kk], hv.x, acc[r][0]);
          acc[r][1] = fmaf(w_r[kk + 1], hv.y, acc[r][1]);
          acc[r][2] = fmaf(w_r[kk + 2], hv.z, acc[r][2]);
          acc[r][3] = fmaf(w_r[kk + 3], hv.w, acc[r][3]);
        }
      }
#pragma unroll 4
      for (int kk = 0; kk < KS; kk += 4) {
        const float w0 = w_s[kk * G + tid], w1 = w_s[(kk + 1) * G + tid];
        const float w2 = w_s[(kk + 2) * G + tid], w3 = w_s[(kk + 3) * G + tid];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float4 hv =
              *reinterpret_cast<const float4*>(h_prev + r * H + LSTM_REG_ROWS + kk);
          acc[r][0] = fmaf(w0, hv.x, acc[r][0]);
          acc[r][1] = fmaf(w1, hv.y, acc[r][1]);
          acc[r][2] = fmaf(w2, hv.z, acc[r][2]);
          acc[r][3] = fmaf(w3, hv.w, acc[r][3]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float pre = x_cur[r] + ((acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]));
      const float act = (q == 2) ? tanhf(pre) : sigmoid_f(pre);
      const float ig = __shfl_sync(0xffffffffu, act, unit_lane);
      const float fg = __shfl_sync(0xffffffffu, act, unit_lane + 1);
      const float gg = __shfl_sync(0xffffffffu, act, unit_lane + 2);
      const float og = __shfl_sync(0xffffffffu, act, unit_lane + 3);
      c[r] = fg * c[r] + ig * gg;
      const float h = og * tanhf(c[r]);
      if (q == 0) h_next[r * H + k] = h;
      if (r < rows) {
        float* row = out + ((size_t)t * B + b0 + r) * W;
        if (q == 0) row[k] = h;
        if (W > H) {
          row[2 * H + col] = pre;
          if (q == 1) row[H + k] = c[r];
        }
      }
      x_cur[r] = x_next[r];
    }
    __syncthreads();
  }
}

// The recurrence's backward, from step T-1 down to 0, same blocking. For each step: the gate
// gradients from dh and dc (the output's and the one carried from step t+1), then
// dh_{t-1} = dgates·W_hh, split over P ≤ 4 groups of threads and summed in shared memory.
// fwd: the forward's out [T, B, 6H]; w_hh: [4H, H]; grad: ∂L/∂out [T, B, 6H] (its h and c
// parts are read; the gates part carries no gradient); dgates: [T, B, 4H].
template <int R>
__device__ void lstm_seq_bwd(const float* __restrict__ fwd, const float* __restrict__ w_hh,
                             const float* __restrict__ grad, float* __restrict__ dgates, int T,
                             int B, int H) {
  float* dh_s = smem;          // [R][H] ∂L/∂h_t arriving from step t+1
  float* dc_s = dh_s + R * H;  // [R][H] ∂L/∂c_t arriving from step t+1
  float* dg_s = dc_s + R * H;  // [R][4H]
  float* red = dg_s + R * 4 * H;  // [4][R][H] partial sums of dh_{t-1}
  const int G = 4 * H;
  const int b0 = blockIdx.x * R;
  const int rows = min(R, B - b0);
  const int parts = min(4, (int)blockDim.x / H);
  for (int i = threadIdx.x; i < R * H; i += blockDim.x) {
    dh_s[i] = 0.0f;
    dc_s[i] = 0.0f;
  }
  __syncthreads();
  for (int t = T - 1; t >= 0; --t) {
    for (int idx = threadIdx.x; idx < rows * H; idx += blockDim.x) {
      const int r = idx / H, k = idx % H;
      const size_t at = ((size_t)t * B + b0 + r);
      const float* row = fwd + at * 6 * H;
      const float* grow = grad + at * 6 * H;
      const float c = row[H + k];
      const float c_prev = t > 0 ? fwd[((size_t)(t - 1) * B + b0 + r) * 6 * H + H + k] : 0.0f;
      const float i = sigmoid_f(row[2 * H + k]), f = sigmoid_f(row[3 * H + k]);
      const float gg = tanhf(row[4 * H + k]), o = sigmoid_f(row[5 * H + k]);
      const float tc = tanhf(c);
      const float dh = grow[k] + dh_s[idx];
      const float dc = grow[H + k] + dc_s[idx] + dh * o * (1.0f - tc * tc);
      const float dgi = dc * gg * i * (1.0f - i);
      const float dgf = dc * c_prev * f * (1.0f - f);
      const float dgg = dc * i * (1.0f - gg * gg);
      const float dgo = dh * tc * o * (1.0f - o);
      float* dg = dg_s + r * G;
      dg[k] = dgi;
      dg[H + k] = dgf;
      dg[2 * H + k] = dgg;
      dg[3 * H + k] = dgo;
      float* out = dgates + at * G;
      out[k] = dgi;
      out[H + k] = dgf;
      out[2 * H + k] = dgg;
      out[3 * H + k] = dgo;
      dc_s[idx] = dc * f;
    }
    __syncthreads();
    if (t == 0) break;  // h_{-1} is the zero initial state: nothing flows into it
    for (int tid = threadIdx.x; tid < parts * H; tid += blockDim.x) {
      const int k = tid % H, p = tid / H;
      const int span = (G + parts - 1) / parts;
      const int j0 = p * span, j1 = min(G, j0 + span);
      float acc[R];
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] = 0.0f;
#pragma unroll 4
      for (int j = j0; j < j1; ++j) {
        const float w = __ldg(&w_hh[(size_t)j * H + k]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = fmaf(dg_s[r * G + j], w, acc[r]);
      }
#pragma unroll
      for (int r = 0; r < R; ++r) red[(p * R + r) * H + k] = acc[r];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < R * H; idx += blockDim.x) {
      const int r = idx / H, k = idx % H;
      float s = 0.0f;
      for (int p = 0; p < parts; ++p) s += red[(p * R + r) * H + k];
      dh_s[idx] = s;
    }
    __syncthreads();
  }
}

#define LSTM_ENTRY(R)                                                                          \
  extern "C" __global__ void lstm_seq_fwd_r##R(const float* xproj, const float* w_hh_t,        \
                                               float* out, int T, int B, int H, int W) {       \
    lstm_seq_fwd<R>(xproj, w_hh_t, out, T, B, H, W);                                           \
  }                                                                                            \
  extern "C" __global__ void lstm_seq_bwd_r##R(const float* fwd, const float* w_hh,            \
                                               const float* grad, float* dgates, int T, int B, \
                                               int H) {                                        \
    lstm_seq_bwd<R>(fwd, w_hh, grad, dgates, T, B, H);                                         \
  }
#define LSTM_RESIDENT_ENTRY(R)                                                                 \
  extern "C" __global__ void __launch_bounds__(512, 1)                                         \
      lstm_seq_fwd_resident_r##R(const float* xproj, const float* w_hh_t, float* out, int T,    \
                                 int B, int H, int W) {                                         \
    lstm_seq_fwd_resident<R>(xproj, w_hh_t, out, T, B, H, W);                                   \
  }
LSTM_RESIDENT_ENTRY(1)
LSTM_RESIDENT_ENTRY(2)
LSTM_RESIDENT_ENTRY(4)
LSTM_ENTRY(1)
LSTM_ENTRY(2)
LSTM_ENTRY(4)
LSTM_ENTRY(8)

// ---------------------------------------------------------------------------------------------
// Multi-head self-attention, one block per (batch row, head), the whole [T, T] score matrix in
// shared memory (T = 60, head size 32 in the canonical transformer: 37 KB). Reads q, k and v
// straight from the in-projection's [B, T, 3D] output and writes the context in [B, T, D], so
// the head split and merge cost no copies. candle's path: three copies, two batched products,
// a scale, a softmax of five ops and a copy back.
// Shared: Q, K, V [T][HD + 1] and P [T][T].
// softmax(q·kᵀ·scale) of one head into p [T][T]: the products one element per thread, then
// each row's softmax by one warp. Ends with the block synchronized.
__device__ void attention_probabilities(const float* q, const float* k, float* p, int T,
                                        int HD, int LD, float scale) {
  for (int i = threadIdx.x; i < T * T; i += blockDim.x) {
    const int r = i / T, c = i % T;
    float s = 0.0f;
    for (int d = 0; d < HD; ++d) s = fmaf(q[r * LD + d], k[c * LD + d], s);
    p[i] = s * scale;
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int r = warp; r < T; r += warps) {
    float* row = p + r * T;
    float m = -3.0e38f;
    for (int c = lane; c < T; c += 32) m = fmaxf(m, row[c]);
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, o));
    float sum = 0.0f;
    for (int c = lane; c < T; c += 32) {
      const float e = expf(row[c] - m);
      row[c] = e;
      sum += e;
    }
    for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffff, sum, o);
    const float inv = 1.0f / sum;
    for (int c = lane; c < T; c += 32) row[c] *= inv;
  }
  __syncthreads();
}

extern "C" __global__ void attention_fwd(const float* __restrict__ qkv, float* __restrict__ out,
                                         int T, int NH, int HD, float scale) {
  const int D = NH * HD;
  const int b = blockIdx.x / NH, head = blockIdx.x % NH;
  const int LD = HD + 1;  // padded rows: reading a column of k or v hits 32 banks, not one
  float* q = smem;
  float* k = q + T * LD;
  float* v = k + T * LD;
  float* p = v + T * LD;
  const float* base = qkv + (size_t)b * T * 3 * D;
  for (int i = threadIdx.x; i < T * HD; i += blockDim.x) {
    const int t = i / HD, d = i % HD;
    const float* row = base + (size_t)t * 3 * D + head * HD + d;
    q[t * LD + d] = row[0];
    k[t * LD + d] = row[D];
    v[t * LD + d] = row[2 * D];
  }
  __syncthreads();
  attention_probabilities(q, k, p, T, HD, LD, scale);
  float* dst = out + (size_t)b * T * D + head * HD;
  for (int i = threadIdx.x; i < T * HD; i += blockDim.x) {
    const int r = i / HD, d = i % HD;
    float s = 0.0f;
    for (int c = 0; c < T; ++c) s = fmaf(p[r * T + c], v[c * LD + d], s);
    dst[(size_t)r * D + d] = s;
  }
}

// Its backward: P recomputed from Q and K (cheaper than storing it), then
// dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS·K·scale, dK = dSᵀ·Q·scale,
// written into dqkv [B, T, 3D] at the places q, k and v were read from.
// Shared: Q, K, V, dO [T][HD + 1] and P [T][T] (P is overwritten by dS, row by row).
extern "C" __global__ void attention_bwd(const float* __restrict__ qkv,
                                         const float* __restrict__ dout,
                                         float* __restrict__ dqkv, int T, int NH, int HD,
                                         float scale) {
  const int D = NH * HD;
  const int b = blockIdx.x / NH, head = blockIdx.x % NH;
  const int LD = HD + 1;  // padded rows, as in the forward
  float* q = smem;
  float* k = q + T * LD;
  float* v = k + T * LD;
  float* dO = v + T * LD;
  float* p = dO + T * LD;
  const float* base = qkv + (size_t)b * T * 3 * D;
  const float* gbase = dout + (size_t)b * T * D + head * HD;
  for (int i = threadIdx.x; i < T * HD; i += blockDim.x) {
    const int t = i / HD, d = i % HD;
    const float* row = base + (size_t)t * 3 * D + head * HD + d;
    q[t * LD + d] = row[0];
    k[t * LD + d] = row[D];
    v[t * LD + d] = row[2 * D];
    dO[t * LD + d] = gbase[(size_t)t * D + d];
  }
  __syncthreads();
  attention_probabilities(q, k, p, T, HD, LD, scale);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  float* dbase = dqkv + (size_t)b * T * 3 * D + head * HD;
  // dV[c][d] = Σ_r P[r][c]·dO[r][d]
  for (int i = threadIdx.x; i < T * HD; i += blockDim.x) {
    const int c = i / HD, d = i % HD;
    float s = 0.0f;
    for (int r = 0; r < T; ++r) s = fmaf(p[r * T + c], dO[r * LD + d], s);
    dbase[(size_t)c * 3 * D + 2 * D + d] = s;
  }
  __syncthreads();  // every thread is done reading P before it becomes dS
  // dS, one warp per row: dP[r][c] = dO[r]·V[c]; dS = P ⊙ (dP − Σ_c dP ⊙ P).
  for (int r = warp; r < T; r += warps) {
    float* row = p + r * T;
    float dot = 0.0f;
    for (int c = lane; c < T; c += 32) {
      float dp = 0.0f;
      for (int d = 0; d < HD; ++d) dp = fmaf(dO[r * LD + d], v[c * LD + d], dp);
      dot = fmaf(dp, row[c], dot);
    }
    for (int o = 16; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffff, dot, o);
    for (int c = lane; c < T; c += 32) {
      float dp = 0.0f;
      for (int d = 0; d < HD; ++d) dp = fmaf(dO[r * LD + d], v[c * LD + d], dp);
      row[c] = row[c] * (dp - dot);
    }
  }
  __syncthreads();
  // dQ[r][d] = scale·Σ_c dS[r][c]·K[c][d]; dK[c][d] = scale·Σ_r dS[r][c]·Q[r][d]
  for (int i = threadIdx.x; i < T * HD; i += blockDim.x) {
    const int t = i / HD, d = i % HD;
    float sq = 0.0f, sk = 0.0f;
    for (int c = 0; c < T; ++c) {
      sq = fmaf(p[t * T + c], k[c * LD + d], sq);
      sk = fmaf(p[c * T + t], q[c * LD + d], sk);
    }
    dbase[(size_t)t * 3 * D + d] = sq * scale;
    dbase[(size_t)t * 3 * D + D + d] = sk * scale;
  }
}

// ---------------------------------------------------------------------------------------------
// Layer norm over the last dimension, one warp per row. The backward recomputes the mean and
// 1/σ and writes ∂L/∂x and dy ⊙ x̂ (summed over rows by the caller into ∂L/∂weight).
extern "C" __global__ void layer_norm_fwd(const float* __restrict__ x,
                                          const float* __restrict__ w,
                                          const float* __restrict__ bias, float* __restrict__ y,
                                          int rows, int n, float eps) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (warp >= rows) return;
  const float* xr = x + (size_t)warp * n;
  float sum = 0.0f;
  for (int c = lane; c < n; c += 32) sum += xr[c];
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffff, sum, o);
  const float mean = sum / n;
  float var = 0.0f;
  for (int c = lane; c < n; c += 32) {
    const float d = xr[c] - mean;
    var = fmaf(d, d, var);
  }
  for (int o = 16; o > 0; o /= 2) var += __shfl_xor_sync(0xffffffff, var, o);
  const float rstd = rsqrtf(var / n + eps);
  float* yr = y + (size_t)warp * n;
  for (int c = lane; c < n; c += 32) yr[c] = (xr[c] - mean) * rstd * w[c] + bias[c];
}

extern "C" __global__ void layer_norm_bwd(const float* __restrict__ x,
                                          const float* __restrict__ w,
                                          const float* __restrict__ dy, float* __restrict__ dx,
                                          float* __restrict__ dy_xhat, int rows, int n,
                                          float eps) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (warp >= rows) return;
  const float* xr = x + (size_t)warp * n;
  const float* gr = dy + (size_t)warp * n;
  float sum = 0.0f;
  for (int c = lane; c < n; c += 32) sum += xr[c];
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffff, sum, o);
  const float mean = sum / n;
  float var = 0.0f;
  for (int c = lane; c < n; c += 32) {
    const float d = xr[c] - mean;
    var = fmaf(d, d, var);
  }
  for (int o = 16; o > 0; o /= 2) var += __shfl_xor_sync(0xffffffff, var, o);
  const float rstd = rsqrtf(var / n + eps);
  // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), g = dy ⊙ w
  float sg = 0.0f, sgx = 0.0f;
  for (int c = lane; c < n; c += 32) {
    const float xh = (xr[c] - mean) * rstd;
    const float g = gr[c] * w[c];
    sg += g;
    sgx = fmaf(g, xh, sgx);
  }
  for (int o = 16; o > 0; o /= 2) {
    sg += __shfl_xor_sync(0xffffffff, sg, o);
    sgx += __shfl_xor_sync(0xffffffff, sgx, o);
  }
  sg /= n;
  sgx /= n;
  float* dxr = dx + (size_t)warp * n;
  float* dwr = dy_xhat + (size_t)warp * n;
  for (int c = lane; c < n; c += 32) {
    const float xh = (xr[c] - mean) * rstd;
    dxr[c] = rstd * (gr[c] * w[c] - sg - xh * sgx);
    dwr[c] = gr[c] * xh;
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW's moments and update, in place: m ← β·m + (1 − β)·g (or g² for v), then
// p ← p·(1 − lr·wd) − lr·m̂/(√v̂ + ε). The CPU path does the same in three passes.
extern "C" __global__ void adamw_moment(float* __restrict__ m, const float* __restrict__ g,
                                        int n, float beta, int square) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = square ? g[i] * g[i] : g[i];
  m[i] = beta * m[i] + (1.0f - beta) * x;
}

extern "C" __global__ void adamw_apply(float* __restrict__ p, const float* __restrict__ m,
                                       const float* __restrict__ v, int n, float lr,
                                       float decay, float eps, float c1, float c2) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  p[i] = p[i] * decay - lr * (m[i] / c1) / (sqrtf(v[i] / c2) + eps);
}

// ---------------------------------------------------------------------------------------------
// Exact GELU, x·Φ(x), and its backward g·(Φ(x) + x·φ(x)): one pass each, where candle's
// gelu_erf backward composes about ten kernels.
extern "C" __global__ void gelu_fwd(const float* __restrict__ x, float* __restrict__ y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

extern "C" __global__ void gelu_bwd(const float* __restrict__ x, const float* __restrict__ g,
                                    float* __restrict__ dx, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
  dx[i] = g[i] * (cdf + v * pdf);
}

// ---------------------------------------------------------------------------------------------
// A Linear layer's epilogue: y = act(x + b), the bias broadcast over rows of n features and
// act the identity or exact GELU, in one pass over the matrix product's output. candle adds a
// bias with a broadcast kernel that first uploads its shapes and strides to the device, then
// runs GELU as another kernel: two launches and a copy per layer where this is one launch.
extern "C" __global__ void bias_act_fwd(const float* __restrict__ x, const float* __restrict__ b,
                                        float* __restrict__ y, int total, int n, int gelu) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const float v = x[i] + b[i % n];
  y[i] = gelu ? 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)) : v;
}

// Its backward for GELU: dz = g · gelu'(x + b) (the gradient of x; the bias's is its column
// sums, which the caller takes).
extern "C" __global__ void bias_gelu_bwd(const float* __restrict__ x, const float* __restrict__ b,
                                         const float* __restrict__ g, float* __restrict__ dz,
                                         int total, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const float v = x[i] + b[i % n];
  const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
  dz[i] = g[i] * (cdf + v * pdf);
}
