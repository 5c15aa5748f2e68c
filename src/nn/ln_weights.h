/*
 * Model weight files, memory-mapped and never copied: the PyTorch
 * checkpoint container (torch.save zip with a data.pkl pickle; the pickle
 * opcodes of a state_dict, docs/TRIPOSR.md section 14.1) and safetensors
 * (section 14.2). The format is detected from the bytes. Every offset,
 * size, shape and stride is checked against the file before a tensor is
 * exposed, so a truncated, corrupted or foreign file gives one clear
 * LN_EMODEL error, never a crash.
 *
 *     struct ln_weights *w;
 *     if (ln_weights_open("model.ckpt", &w, &err) < 0) ...   // one line
 *     const float *wq;
 *     ln_weights_f32(w, "backbone.proj_in.weight", 2, (int64_t[]){1024, 1024}, &wq, &err);
 *     ...
 *     ln_weights_close(w);   // unmaps; pointers obtained above die with it
 *
 * Immutable after open: safe to read from any number of threads.
 */
#ifndef LN_WEIGHTS_H
#define LN_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

#define LN_TENSOR_MAX_DIMS 8

enum ln_dtype {
    LN_DTYPE_F32,
    LN_DTYPE_F16,
    LN_DTYPE_BF16,
    LN_DTYPE_F64,
    LN_DTYPE_I64,
    LN_DTYPE_I32,
    LN_DTYPE_I16,
    LN_DTYPE_I8,
    LN_DTYPE_U8,
    LN_DTYPE_BOOL,
};

struct ln_tensor_info {
    const char *name;
    enum ln_dtype dtype;
    int ndim;
    int64_t shape[LN_TENSOR_MAX_DIMS];
    int64_t strides[LN_TENSOR_MAX_DIMS]; /* in elements */
    int64_t offset;                      /* storage offset in elements */
    const void *storage;                 /* start of the storage in the mapping */
    size_t storage_bytes;
    int contiguous;                      /* row-major with offset usable as is */
};

enum ln_weights_format {
    LN_WEIGHTS_FORMAT_TORCH_ZIP,
    LN_WEIGHTS_FORMAT_SAFETENSORS,
};

struct ln_weights;

/* Maps and indexes a weight file. LN_ENOTFOUND if missing, LN_EMODEL with a
 * message naming the file and the problem for anything unreadable: not a
 * checkpoint, truncated, corrupt zip directory, unsupported pickle opcode or
 * global, legacy (pre-1.6) or TorchScript format, tensor outside its
 * storage, big-endian data. */
int ln_weights_open(const char *path, struct ln_weights **out, struct ln_error *err);
/* Same on bytes already in memory (used by the fuzz targets; the bytes must
 * outlive the weights). */
int ln_weights_open_memory(const void *data, size_t len, const char *name,
                           struct ln_weights **out, struct ln_error *err);
void ln_weights_close(struct ln_weights *w);

enum ln_weights_format ln_weights_format(const struct ln_weights *w);
size_t ln_weights_count(const struct ln_weights *w);
/* Tensors in file order. */
const struct ln_tensor_info *ln_weights_at(const struct ln_weights *w, size_t i);
/* NULL when absent. */
const struct ln_tensor_info *ln_weights_find(const struct ln_weights *w, const char *name);

/* A float32 view of a tensor that must have exactly this shape: a pointer
 * into the mapping when the stored tensor is contiguous float32, otherwise a
 * converted copy owned by w (f16, bf16, f64, strided). Errors (LN_EMODEL)
 * name the tensor and say "missing" or "has shape [a, b], expected [c, d]". */
int ln_weights_f32(struct ln_weights *w, const char *name, int ndim, const int64_t *shape,
                   const float **out, struct ln_error *err);

/* For a caller that has copied the bytes [p, p + bytes) of a tensor
 * (from ln_weights_f32) and will not read them again: the memory the
 * mapped file's pages there hold is let go (ln_map_release). The pointer
 * stays valid; reading it again brings the pages back from the file. A
 * converted copy, or memory input, is left as it is. */
void ln_weights_release(const struct ln_weights *w, const void *p, size_t bytes);

const char *ln_dtype_name(enum ln_dtype dt);
size_t ln_dtype_size(enum ln_dtype dt);

#endif
