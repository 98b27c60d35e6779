// PowerSGD's passes over a weight-sized matrix (declared and specified in CKernels.h).
//
// Each walks the matrix once, a row at a time: a row (4 KB at 1,024 columns) stays in L1
// while its R axpys or dot products read it again, so the matrix crosses memory once per
// pass. No fused multiply-adds anywhere (FP_CONTRACT off): nn_psgd_expand's result must be
// the same bits on every rank's CPU; only the dot products of the first pass (each rank's
// own contribution to a sum) are reassociated into vector lanes.
#include "CKernels.h"
#include <stdatomic.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// One sweep of a row: v = ((m + c₀q₀) + c₁q₁ + …) + g stored, and the R dot products of v
// with Qᵀ's rows accumulated in lanes. R is a constant where the dispatch below inlines it,
// so the r loops unroll into registers.
static inline __attribute__((always_inline))
void accumulate_project_rows(float *restrict m, const float *restrict g, const float *restrict owed, const float *restrict qt,
                             float *restrict p, long rows, long cols, const long R, float inv) {
    float c[R], acc[R];
    for (long i = 0; i < rows; i++) {
        float *restrict mr = m + i * cols;
        const float *restrict gr = g + i * cols;
        for (long r = 0; r < R; r++) { c[r] = owed ? -inv * owed[i * R + r] : 0.0f; acc[r] = 0; }
        if (owed) {
            for (long k = 0; k < cols; k++) {
                _Pragma("clang fp reassociate(on)")
                float v = mr[k];
                for (long r = 0; r < R; r++) v = v + c[r] * qt[r * cols + k];
                v = v + gr[k];
                mr[k] = v;
                for (long r = 0; r < R; r++) acc[r] += v * qt[r * cols + k];
            }
        } else {
            for (long k = 0; k < cols; k++) {
                _Pragma("clang fp reassociate(on)")
                const float v = mr[k] + gr[k];
                mr[k] = v;
                for (long r = 0; r < R; r++) acc[r] += v * qt[r * cols + k];
            }
        }
        for (long r = 0; r < R; r++) p[i * R + r] = acc[r];
    }
}

static inline __attribute__((always_inline))
void accumulate_project(float *restrict m, const float *restrict g, const float *restrict owed, const float *restrict qt,
                        float *restrict p, long rows, long cols, long R, float inv) {
    switch (R) {
    case 1: accumulate_project_rows(m, g, owed, qt, p, rows, cols, 1, inv); break;
    case 2: accumulate_project_rows(m, g, owed, qt, p, rows, cols, 2, inv); break;
    case 4: accumulate_project_rows(m, g, owed, qt, p, rows, cols, 4, inv); break;
    case 8: accumulate_project_rows(m, g, owed, qt, p, rows, cols, 8, inv); break;
    default: accumulate_project_rows(m, g, owed, qt, p, rows, cols, R, inv);
    }
}

static inline __attribute__((always_inline))
void project_transposed(const float *restrict m, const float *restrict phat, float *restrict qt, long rows, long cols, long R) {
    memset(qt, 0, sizeof(float) * (size_t)(R * cols));
    for (long i = 0; i < rows; i++) {
        const float *restrict mr = m + i * cols;
        for (long r = 0; r < R; r++) {
            const float s = phat[i * R + r];
            float *restrict q = qt + r * cols;
            for (long k = 0; k < cols; k++) q[k] += s * mr[k];
        }
    }
}

// g[k] = ((s₀q₀[k] + s₁q₁[k]) + s₂q₂[k]) + …, in that order, and the largest |g| as bits.
static inline __attribute__((always_inline))
unsigned expand_rows(const float *restrict phat, const float *restrict qt, float *restrict g, long rows, long cols, const long R) {
    unsigned largest = 0;   // |x| as bits; ≥ 0x7f800000 ⇔ ±∞ or NaN
    for (long i = 0; i < rows; i++) {
        float *restrict gr = g + i * cols;
        const float *restrict s = phat + i * R;
        for (long k = 0; k < cols; k++) {
            float v = s[0] * qt[k];
            for (long r = 1; r < R; r++) v = v + s[r] * qt[r * cols + k];
            gr[k] = v;
            unsigned u;
            memcpy(&u, &v, sizeof u);
            u &= 0x7fffffffu;
            largest = u > largest ? u : largest;
        }
    }
    return largest;
}

static inline __attribute__((always_inline))
bool expand(const float *restrict phat, const float *restrict qt, float *restrict g, long rows, long cols, long R) {
    unsigned largest;
    switch (R) {
    case 1: largest = expand_rows(phat, qt, g, rows, cols, 1); break;
    case 2: largest = expand_rows(phat, qt, g, rows, cols, 2); break;
    case 4: largest = expand_rows(phat, qt, g, rows, cols, 4); break;
    case 8: largest = expand_rows(phat, qt, g, rows, cols, 8); break;
    default: largest = expand_rows(phat, qt, g, rows, cols, R);
    }
    return largest < 0x7f800000u;
}

#if defined(__x86_64__) && defined(__clang__)
#define NN_AVX2 __attribute__((target("avx2")))
static NN_AVX2 void accumulate_project_avx2(float *m, const float *g, const float *owed, const float *qt, float *p, long rows, long cols, long R, float inv) {
    accumulate_project(m, g, owed, qt, p, rows, cols, R, inv);
}
static NN_AVX2 void project_transposed_avx2(const float *m, const float *phat, float *qt, long rows, long cols, long R) {
    project_transposed(m, phat, qt, rows, cols, R);
}
static NN_AVX2 bool expand_avx2(const float *phat, const float *qt, float *g, long rows, long cols, long R) {
    return expand(phat, qt, g, rows, cols, R);
}
static _Atomic int chosen = -1;   // -1: not yet known; ranks in threads may ask at once and store the same value
static int cpu_has_avx2(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2") ? 1 : 0; }
static bool has_avx2(void) {
    int k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (k < 0) {
        k = cpu_has_avx2();
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k == 1;
}
void nn_kernels_select(int which) {
    atomic_store_explicit(&chosen, which < 0 ? -1 : (which == 1 ? cpu_has_avx2() : 0), memory_order_relaxed);
}
#else
static bool has_avx2(void) { return false; }
void nn_kernels_select(int which) { (void)which; }
#define accumulate_project_avx2 accumulate_project
#define project_transposed_avx2 project_transposed
#define expand_avx2 expand
#endif

void nn_psgd_accumulate_project(float *m, const float *g, const float *owed, const float *qt, float *p,
                                long rows, long cols, long R, float inv) {
    if (has_avx2()) accumulate_project_avx2(m, g, owed, qt, p, rows, cols, R, inv);
    else accumulate_project(m, g, owed, qt, p, rows, cols, R, inv);
}

void nn_psgd_project_transposed(const float *m, const float *phat, float *qt, long rows, long cols, long R) {
    if (has_avx2()) project_transposed_avx2(m, phat, qt, rows, cols, R);
    else project_transposed(m, phat, qt, rows, cols, R);
}

bool nn_psgd_expand(const float *phat, const float *qt, float *g, long rows, long cols, long R) {
    if (has_avx2()) return expand_avx2(phat, qt, g, rows, cols, R);
    return expand(phat, qt, g, rows, cols, R);
}
