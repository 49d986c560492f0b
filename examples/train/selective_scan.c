/* The selective-scan recurrence of the Mamba-1 and Mamba-2 training models (models.py, SelectiveScan), forward and
 * backward, as one fused loop per state row. PyTorch would run it as ~20 small tensor ops per time step; this file
 * does the same arithmetic in one pass. Built by models.py with the system C compiler and called through ctypes.
 *
 * Per batch row b, channel/head k and head-dim p, over time t (h_{-1} = 0, n over the N state entries):
 *   a_t[n] = exp(A[k][n or 0] * dt[b,t,k])
 *   h_t[n] = a_t[n] h_{t-1}[n] + dt[b,t,k] x[b,t,k,p] B[b,t,kb,n]
 *   y[b,t,k,p] = sum_n h_t[n] C[b,t,kb,n]
 * with kb = k when B and C have one row per k, 0 when one row is shared by all k (Mamba-1), and A's second extent
 * NA = N (Mamba-1, per-state decay) or 1 (Mamba-2, one scalar per head). All arrays are contiguous float32.
 * The backward recomputes the states of one row into `hs` ([T][N]) rather than storing them for every row. */
#include <math.h>
#include <string.h>

typedef struct {
    int batch, T, K, P, N, NA, KB;
} Shape;

/* a[n] = exp(A[k][n or 0] * dt) for one (k, t). */
static void decays(const Shape* s, const float* A, int k, float dt, float* a) {
    if (s->NA == 1) {
        const float v = expf(A[k] * dt);
        for (int n = 0; n < s->N; ++n) a[n] = v;
    } else {
        for (int n = 0; n < s->N; ++n) a[n] = expf(A[k * s->N + n] * dt);
    }
}

/* h (N floats) and a (N floats) are scratch. */
void scan_forward(const Shape* s, const float* dt, const float* A, const float* x, const float* B, const float* C,
                  float* y, float* h, float* a) {
    const int T = s->T, K = s->K, P = s->P, N = s->N, KB = s->KB;
    for (int b = 0; b < s->batch; ++b)
        for (int k = 0; k < K; ++k)
            for (int p = 0; p < P; ++p) {
                memset(h, 0, sizeof(float) * (size_t)N);
                const int kb = KB == 1 ? 0 : k;
                for (int t = 0; t < T; ++t) {
                    const size_t bt = (size_t)b * T + t;
                    const float d = dt[bt * K + k], u = d * x[(bt * K + k) * P + p];
                    const float* Bt = B + (bt * KB + kb) * N;
                    const float* Ct = C + (bt * KB + kb) * N;
                    decays(s, A, k, d, a);
                    float acc = 0.f;
                    for (int n = 0; n < N; ++n) {
                        h[n] = a[n] * h[n] + u * Bt[n];
                        acc += h[n] * Ct[n];
                    }
                    y[(bt * K + k) * P + p] = acc;
                }
            }
}

/* Gradients of y with respect to every input, given gy = dL/dy. g_dt, g_A, g_B and g_C accumulate (the caller
 * zeroes them); g_x is written. g[n] = dL/dh_t runs backwards: g_t = gy_t C_t + a_{t+1} g_{t+1}. hs and as
 * (T*N floats each) hold one row's recomputed states and decays, g and g_log (N floats each) are scratch. */
void scan_backward(const Shape* s, const float* dt, const float* A, const float* x, const float* B, const float* C,
                   const float* gy, float* g_dt, float* g_A, float* g_x, float* g_B, float* g_C, float* hs, float* as,
                   float* g, float* g_log) {
    const int T = s->T, K = s->K, P = s->P, N = s->N, KB = s->KB;
    for (int b = 0; b < s->batch; ++b)
        for (int k = 0; k < K; ++k)
            for (int p = 0; p < P; ++p) {
                const int kb = KB == 1 ? 0 : k;
                for (int t = 0; t < T; ++t) {
                    const size_t bt = (size_t)b * T + t;
                    const float d = dt[bt * K + k], u = d * x[(bt * K + k) * P + p];
                    const float* Bt = B + (bt * KB + kb) * N;
                    float* a = as + (size_t)t * N;
                    decays(s, A, k, d, a);
                    for (int n = 0; n < N; ++n)
                        hs[t * N + n] = a[n] * (t ? hs[(t - 1) * N + n] : 0.f) + u * Bt[n];
                }
                memset(g, 0, sizeof(float) * (size_t)N);
                for (int t = T - 1; t >= 0; --t) {
                    const size_t bt = (size_t)b * T + t, i = (bt * K + k) * P + p;
                    const float d = dt[bt * K + k], xv = x[i], u = d * xv, gyt = gy[i];
                    const float* Bt = B + (bt * KB + kb) * N;
                    const float* Ct = C + (bt * KB + kb) * N;
                    const float* a = as + (size_t)t * N;
                    const float* h_prev = t ? hs + (size_t)(t - 1) * N : NULL;
                    float* gBt = g_B + (bt * KB + kb) * N;
                    float* gCt = g_C + (bt * KB + kb) * N;
                    float g_u = 0.f, g_d = 0.f;
                    for (int n = 0; n < N; ++n) {
                        g[n] += gyt * Ct[n];
                        gCt[n] += gyt * hs[t * N + n];
                        g_u += g[n] * Bt[n];
                        gBt[n] += g[n] * u;
                        g_log[n] = h_prev ? g[n] * h_prev[n] * a[n] : 0.f; /* dL/d(A dt_t) */
                        g[n] *= a[n];
                    }
                    if (s->NA == 1) {
                        float sum = 0.f;
                        for (int n = 0; n < N; ++n) sum += g_log[n];
                        g_A[k] += sum * d;
                        g_d += sum * A[k];
                    } else {
                        for (int n = 0; n < N; ++n) {
                            g_A[k * N + n] += g_log[n] * d;
                            g_d += g_log[n] * A[k * N + n];
                        }
                    }
                    g_dt[bt * K + k] += g_d + g_u * xv;
                    g_x[i] = g_u * d;
                }
            }
}
