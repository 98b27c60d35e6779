/* allreduce.c: raw MPI_Allreduce (in place, float, sum) of the buffer nntrain reduces once
 * per step: 1,863,690 gradients + 4 tail slots for the default MLP. Prints one JSON line
 * (rank 0) with the median, min and mean seconds per call over --iters timed calls after
 * --warmup untimed ones.
 *
 * With a 4th argument "huge", the buffer is a 2 MiB-aligned anonymous mapping advised for
 * transparent huge pages (MADV_HUGEPAGE), as nntrain's and numpy's large buffers are;
 * otherwise it comes from malloc (4 KiB pages where THP is "madvise", as on Debian).
 *
 * With a 5th argument GAP (milliseconds, default 0), each rank computes for GAP ms between
 * two calls, as a trainer computes a step between its allreduces: back to back, the TCP queues
 * and windows of one call meet the next; in training they have a step's compute to drain. The
 * computing is a loop of dependent floating-point multiply-adds on a few registers (the core
 * busy, as in a GEMM, without touching the buffer), timed with MPI_Wtime; only the allreduce
 * is timed.
 *
 * Build: mpicc -O2 -o allreduce allreduce.c
 * Run:   mpirun -np 2 ./allreduce [count] [iters] [warmup] [huge] [gap_ms]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <stdint.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(int rc, const char *what) {
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING]; int len = 0;
        MPI_Error_string(rc, msg, &len);
        fprintf(stderr, "allreduce: %s failed: %s\n", what, msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1863690 + 4;
    int iters = argc > 2 ? atoi(argv[2]) : 200;
    int warmup = argc > 3 ? atoi(argv[3]) : 20;
    check(MPI_Init(&argc, &argv), "MPI_Init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int huge = argc > 4 && strcmp(argv[4], "huge") == 0;
    double gap = argc > 5 ? atof(argv[5]) * 1e-3 : 0.0;
    if (count <= 0 || count > (1L << 30) || iters <= 0 || warmup < 0 || !(gap >= 0 && gap < 10)) {
        fprintf(stderr, "allreduce: usage: allreduce [count 1..2^30] [iters > 0] [warmup >= 0] [huge|plain] [gap_ms 0..10000]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t hp = 2u << 20, mapped = (sizeof(float) * count + hp - 1) / hp * hp;
    float *buf;
    if (huge) {
        char *raw = mmap(NULL, mapped + hp, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        buf = raw == MAP_FAILED ? NULL : (float *)(((uintptr_t)raw + hp - 1) / hp * hp);
        if (buf) madvise(buf, mapped, MADV_HUGEPAGE);
    } else {
        buf = malloc(sizeof(float) * count);
    }
    double *t = malloc(sizeof(double) * iters);
    if (!buf || !t) { fprintf(stderr, "allreduce: out of memory\n"); MPI_Abort(MPI_COMM_WORLD, 1); }
    for (long i = 0; i < count; i++) buf[i] = (float)(i % 1000) * 1e-3f;
    volatile float sink = 0;
    for (int i = 0; i < warmup + iters; i++) {
        if (gap > 0) {   /* a step's compute: the core busy, the buffer untouched */
            float a0 = 1, a1 = 2, a2 = 3, a3 = 4;
            double until = MPI_Wtime() + gap;
            while (MPI_Wtime() < until)
                for (int k = 0; k < 4096; k++) { a0 = a0 * 0.999f + 1e-3f; a1 = a1 * 0.999f + 1e-3f; a2 = a2 * 0.999f + 1e-3f; a3 = a3 * 0.999f + 1e-3f; }
            sink += a0 + a1 + a2 + a3;
        }
        double t0 = MPI_Wtime();
        check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
        double dt = MPI_Wtime() - t0;
        if (i >= warmup) t[i - warmup] = dt;
        /* Keep values bounded so the sum never overflows to inf over many iterations. */
        if ((i & 15) == 15) for (long j = 0; j < count; j++) buf[j] *= 1.0f / 65536.0f;
    }
    double sum = 0;
    for (int i = 0; i < iters; i++) sum += t[i];
    qsort(t, iters, sizeof(double), cmp);
    if (rank == 0)
        printf("{\"event\":\"allreduce\",\"count\":%ld,\"bytes\":%ld,\"ranks\":%d,\"iters\":%d,"
               "\"median_seconds\":%.9f,\"min_seconds\":%.9f,\"mean_seconds\":%.9f,\"huge_pages\":%s,\"gap_ms\":%.3f}\n",
               count, count * 4L, size, iters, t[iters / 2], t[0], sum / iters, huge ? "true" : "false", gap * 1e3);
    if (!huge) free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
