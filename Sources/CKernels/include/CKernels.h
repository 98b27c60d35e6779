// CKernels: the few loops that Swift, built for baseline x86-64 (SSE2), cannot run at the
// machine's vector width, and for which BLAS has no fast routine. Each is compiled twice, for
// baseline and for AVX2, and picks the AVX2 body once at run time when the CPU has it.
#ifndef NNTRAIN_CKERNELS_H
#define NNTRAIN_CKERNELS_H
#include <stdbool.h>

/// PowerSGD's first pass over a weight-sized matrix, row by row (see PowerSGDExchange):
///   M ← (M − P̂ₒ Qᵀ ÷ N) + g, then P = M Q.
/// M (`m`), g: [rows, cols]; P̂ₒ (`owed`, may be NULL: then M ← M + g): [rows, R];
/// Qᵀ (`qt`): [R, cols]; P (`p`, written): [rows, R]; `inv` = 1 ÷ N. All row-major.
void nn_psgd_accumulate_project(float *m, const float *g, const float *owed, const float *qt, float *p,
                                long rows, long cols, long R, float inv);

/// Qᵀ = (Mᵀ P̂)ᵀ: qt[r, j] = Σᵢ m[i, j] · p̂[i, r], summed over i in order (each element's
/// sum is the same whatever the vector width). M: [rows, cols]; P̂: [rows, R]; Qᵀ: [R, cols].
void nn_psgd_project_transposed(const float *m, const float *phat, float *qt, long rows, long cols, long R);

/// g = P̂ Qᵀ, each element ((p̂₀q₀ + p̂₁q₁) + p̂₂q₂) + … without fused multiply-adds, so the
/// same bits on every CPU (ranks apply it as their common update); returns whether every
/// element is finite. P̂: [rows, R]; Qᵀ: [R, cols]; g: [rows, cols].
bool nn_psgd_expand(const float *phat, const float *qt, float *g, long rows, long cols, long R);

/// Which bodies run: -1 the best the CPU has (the default), 0 baseline, 1 AVX2 when the CPU
/// has it. For tests that compare them.
void nn_kernels_select(int which);

#endif
