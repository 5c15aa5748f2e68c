/*
 * Private parts of the weight-file reader shared by its format modules:
 * the weights object, the single place where a tensor is validated and
 * added, and the entry points of the torch zip, pickle and safetensors
 * parsers. Every module reports problems through ln__weights_fail so that
 * each message reads "<file>: <what is wrong>" with code LN_EMODEL.
 */
#ifndef LN_WEIGHTS_INT_H
#define LN_WEIGHTS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_fs.h"
#include "ln_weights.h"

/* Tensors larger than this (in bytes) are refused: no real checkpoint is
 * near it, and it keeps every size computation far from overflow. */
#define LN__WEIGHTS_MAX_TENSOR_BYTES ((int64_t)1 << 40)

struct ln_weights {
    char *name;          /* file name for messages */
    const uint8_t *data; /* the whole file */
    size_t len;
    struct ln_map map; /* the mapped file (data NULL for memory input) */
    enum ln_weights_format format;

    struct ln_tensor_info *tensors; /* file order; names owned */
    size_t n_tensors;
    size_t cap_tensors;
    const struct ln_tensor_info **by_name; /* sorted by name, for lookups */

    /* Float32 copies made by ln_weights_f32, one slot per tensor, created
     * on first use under lock. */
    float **converted;
    pthread_mutex_t lock;
};

/* Sets err to LN_EMODEL "<file>: <formatted text>" and returns LN_EMODEL. */
int ln__weights_fail(const struct ln_weights *w, struct ln_error *err, const char *fmt, ...)
    LN_PRINTF(3, 4);

/* Validates t (dimensions, strides, every indexed element inside
 * t->storage_bytes) and appends it with a copy of name (name_len bytes, no
 * NUL inside). t->name and t->contiguous are filled here. */
int ln__weights_add(struct ln_weights *w, const struct ln_tensor_info *t, const char *name,
                    size_t name_len, struct ln_error *err);

/* Format readers: fill w's tensors from w->data. */
int ln__weights_load_safetensors(struct ln_weights *w, struct ln_error *err);
int ln__weights_load_torch_zip(struct ln_weights *w, struct ln_error *err);

/* Finds the bytes of one storage named by a BINPERSID record: key is the
 * storage key (key_len bytes), and the storage must hold numel elements of
 * dt. Fills *data and *bytes (the whole entry) or fails. */
typedef int (*ln__pickle_storage_fn)(void *user, const char *key, size_t key_len, enum ln_dtype dt,
                                     int64_t numel, const void **data, size_t *bytes,
                                     struct ln_error *err);

/* Runs the restricted pickle machine over a torch state-dict pickle and
 * adds every tensor of the top dict to w in pickle order. */
int ln__pickle_load_state_dict(struct ln_weights *w, const uint8_t *pkl, size_t len,
                               ln__pickle_storage_fn storage_fn, void *user, struct ln_error *err);

#endif
