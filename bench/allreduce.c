/* allreduce.c: raw MPI_Allreduce (in place, float, sum) of the buffer nntrain reduces once
 * per step: 1,863,690 gradients + 4 tail slots for the default MLP. Prints one JSON line
 * (rank 0) with the median, min and mean seconds per call over --iters timed calls after
 * --warmup untimed ones.
 *
 * With a 4th argument "huge", the buffer is a 2 MiB-aligned anonymous mapping advised for
 * transparent huge pages (MADV_HUGEPAGE), as nntrain's and numpy's large buffers are;
 * otherwise it comes from malloc (4 KiB pages where THP is "madvise", as on Debian).
 *
 * Build: mpicc -O2 -o allreduce allreduce.c
 * Run:   mpirun -np 2 ./allreduce [count] [iters] [warmup] [huge]
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
    for (int i = 0; i < warmup + iters; i++) {
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
               "\"median_seconds\":%.9f,\"min_seconds\":%.9f,\"mean_seconds\":%.9f,\"huge_pages\":%s}\n",
               count, count * 4L, size, iters, t[iters / 2], t[0], sum / iters, huge ? "true" : "false");
    if (!huge) free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
