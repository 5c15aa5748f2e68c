/*
 * A restricted pickle machine for torch state dicts (docs/TRIPOSR.md
 * section 14.1). A pickle is a program, and a general unpickler runs any
 * callable the file names; this one knows only the opcodes a state dict
 * uses and only three kinds of global (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 and the torch.*Storage classes), so a
 * hostile checkpoint can do nothing but fail. Objects live in one list
 * freed at the end (containers may be shared through the memo, and even
 * cyclic); the stack and memo are bounded and every read is checked
 * against the end of data.pkl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_weights_int.h"

#define LN__PK_MAX_STACK ((size_t)1 << 20)
#define LN__PK_MAX_MEMO ((size_t)1 << 20)
#define LN__PK_MAX_OBJECTS ((size_t)1 << 24)

enum ln__pk_kind {
    LN__PK_NONE,
    LN__PK_BOOL,
    LN__PK_INT,
    LN__PK_FLOAT,
    LN__PK_STR,
    LN__PK_BYTES,
    LN__PK_TUPLE,
    LN__PK_LIST,
    LN__PK_DICT, /* items hold key, value, key, value, ... */
    LN__PK_GLOBAL,
    LN__PK_STORAGE,
    LN__PK_TENSOR,
};

enum ln__pk_global {
    LN__PK_G_ORDERED_DICT,
    LN__PK_G_REBUILD_TENSOR_V2,
    LN__PK_G_STORAGE,
};

struct ln__pk_obj {
    enum ln__pk_kind kind;
    union {
        int64_t i;
        struct {
            const char *s; /* into data.pkl */
            size_t n;
        } str;
        struct {
            struct ln__pk_obj **items;
            size_t n, cap;
        } seq;
        struct {
            enum ln__pk_global g;
            enum ln_dtype dt;
        } glob;
        struct {
            enum ln_dtype dt;
            const void *data;
            size_t bytes;
        } storage;
        struct {
            const struct ln__pk_obj *storage;
            int64_t offset;
            int ndim;
            int64_t shape[LN_TENSOR_MAX_DIMS];
            int64_t strides[LN_TENSOR_MAX_DIMS];
        } tensor;
    } u;
};

struct ln__pk {
    struct ln_weights *w;
    struct ln_error *err;
    const uint8_t *p;
    size_t len, pos, op_pos;
    ln__pickle_storage_fn storage_fn;
    void *user;

    struct ln__pk_obj **objects; /* every object, for freeing */
    size_t n_objects, cap_objects;
    struct ln__pk_obj **stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    struct ln__pk_obj **memo;
    size_t cap_memo, n_memo;
};

static int ln__pk_fail(struct ln__pk *vm, const char *what)
{
    return ln__weights_fail(vm->w, vm->err, "data.pkl: %s (opcode at byte %zu)", what, vm->op_pos);
}

static struct ln__pk_obj *ln__pk_new(struct ln__pk *vm, enum ln__pk_kind kind)
{
    if (vm->n_objects >= LN__PK_MAX_OBJECTS) {
        ln__pk_fail(vm, "too many objects");
        return NULL;
    }
    if (vm->n_objects == vm->cap_objects) {
        vm->cap_objects = vm->cap_objects ? 2 * vm->cap_objects : 256;
        vm->objects = ln_xrealloc(vm->objects, vm->cap_objects * sizeof *vm->objects);
    }
    struct ln__pk_obj *o = ln_xcalloc(1, sizeof *o);
    o->kind = kind;
    vm->objects[vm->n_objects++] = o;
    return o;
}

static void ln__pk_seq_push(struct ln__pk_obj *o, struct ln__pk_obj *item)
{
    if (o->u.seq.n == o->u.seq.cap) {
        o->u.seq.cap = o->u.seq.cap ? 2 * o->u.seq.cap : 4;
        o->u.seq.items = ln_xrealloc(o->u.seq.items, o->u.seq.cap * sizeof *o->u.seq.items);
    }
    o->u.seq.items[o->u.seq.n++] = item;
}

static int ln__pk_push(struct ln__pk *vm, struct ln__pk_obj *o)
{
    if (!o)
        return LN_EMODEL;
    if (vm->sp >= LN__PK_MAX_STACK)
        return ln__pk_fail(vm, "stack too deep");
    if (vm->sp == vm->cap_stack) {
        vm->cap_stack = vm->cap_stack ? 2 * vm->cap_stack : 64;
        vm->stack = ln_xrealloc(vm->stack, vm->cap_stack * sizeof *vm->stack);
    }
    vm->stack[vm->sp++] = o;
    return 0;
}

static size_t ln__pk_base(const struct ln__pk *vm)
{
    return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0;
}

static struct ln__pk_obj *ln__pk_pop(struct ln__pk *vm)
{
    if (vm->sp <= ln__pk_base(vm)) {
        ln__pk_fail(vm, "stack underflow");
        return NULL;
    }
    return vm->stack[--vm->sp];
}

static struct ln__pk_obj *ln__pk_top(struct ln__pk *vm)
{
    if (vm->sp <= ln__pk_base(vm)) {
        ln__pk_fail(vm, "stack underflow");
        return NULL;
    }
    return vm->stack[vm->sp - 1];
}

/* Pops everything above the last mark into a new sequence of kind. */
static struct ln__pk_obj *ln__pk_pop_mark(struct ln__pk *vm, enum ln__pk_kind kind)
{
    if (vm->n_marks == 0) {
        ln__pk_fail(vm, "no mark on the stack");
        return NULL;
    }
    const size_t base = vm->marks[--vm->n_marks];
    struct ln__pk_obj *o = ln__pk_new(vm, kind);
    if (!o)
        return NULL;
    for (size_t i = base; i < vm->sp; i++)
        ln__pk_seq_push(o, vm->stack[i]);
    vm->sp = base;
    return o;
}

static int ln__pk_need(struct ln__pk *vm, size_t n)
{
    if (n > vm->len - vm->pos)
        return ln__weights_fail(vm->w, vm->err, "data.pkl: truncated at byte %zu", vm->len);
    return 0;
}

static uint64_t ln__pk_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int ln__pk_memo_put(struct ln__pk *vm, uint64_t idx)
{
    struct ln__pk_obj *top = ln__pk_top(vm);
    if (!top)
        return LN_EMODEL;
    if (idx >= LN__PK_MAX_MEMO)
        return ln__pk_fail(vm, "memo index too large");
    if (idx >= vm->cap_memo) {
        size_t cap = vm->cap_memo ? vm->cap_memo : 64;
        while (cap <= idx)
            cap *= 2;
        vm->memo = ln_xrealloc(vm->memo, cap * sizeof *vm->memo);
        memset(vm->memo + vm->cap_memo, 0, (cap - vm->cap_memo) * sizeof *vm->memo);
        vm->cap_memo = cap;
    }
    if (!vm->memo[idx])
        vm->n_memo++;
    vm->memo[idx] = top;
    return 0;
}

static int ln__pk_memo_get(struct ln__pk *vm, uint64_t idx)
{
    if (idx >= vm->cap_memo || !vm->memo[idx])
        return ln__pk_fail(vm, "memo entry used before it was set");
    return ln__pk_push(vm, vm->memo[idx]);
}

static int ln__pk_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* The only callables a state dict needs; everything else is refused. */
static int ln__pk_global(struct ln__pk *vm, const char *mod, size_t mod_len, const char *name,
                         size_t name_len)
{
    static const struct {
        const char *name;
        enum ln_dtype dt;
    } storages[] = {
        {"FloatStorage", LN_DTYPE_F32},     {"HalfStorage", LN_DTYPE_F16},
        {"BFloat16Storage", LN_DTYPE_BF16}, {"DoubleStorage", LN_DTYPE_F64},
        {"LongStorage", LN_DTYPE_I64},      {"IntStorage", LN_DTYPE_I32},
        {"ShortStorage", LN_DTYPE_I16},     {"CharStorage", LN_DTYPE_I8},
        {"ByteStorage", LN_DTYPE_U8},       {"BoolStorage", LN_DTYPE_BOOL},
    };
    struct ln__pk_obj *o = NULL;
    if (ln__pk_is(mod, mod_len, "collections") && ln__pk_is(name, name_len, "OrderedDict")) {
        if ((o = ln__pk_new(vm, LN__PK_GLOBAL)))
            o->u.glob.g = LN__PK_G_ORDERED_DICT;
    } else if (ln__pk_is(mod, mod_len, "torch._utils") &&
               ln__pk_is(name, name_len, "_rebuild_tensor_v2")) {
        if ((o = ln__pk_new(vm, LN__PK_GLOBAL)))
            o->u.glob.g = LN__PK_G_REBUILD_TENSOR_V2;
    } else if (ln__pk_is(mod, mod_len, "torch")) {
        for (size_t i = 0; i < sizeof storages / sizeof storages[0]; i++) {
            if (ln__pk_is(name, name_len, storages[i].name)) {
                if ((o = ln__pk_new(vm, LN__PK_GLOBAL))) {
                    o->u.glob.g = LN__PK_G_STORAGE;
                    o->u.glob.dt = storages[i].dt;
                }
                break;
            }
        }
        if (!o && vm->n_objects < LN__PK_MAX_OBJECTS)
            goto forbidden;
    } else {
        goto forbidden;
    }
    return ln__pk_push(vm, o);

forbidden:
    return ln__weights_fail(vm->w, vm->err,
                            "data.pkl: forbidden global %.*s.%.*s (a state dict uses only "
                            "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and "
                            "torch.*Storage)",
                            (int)(mod_len > 60 ? 60 : mod_len), mod,
                            (int)(name_len > 60 ? 60 : name_len), name);
}

/* Reads a "text\n" argument of GLOBAL. */
static int ln__pk_line(struct ln__pk *vm, const char **s, size_t *n)
{
    const uint8_t *start = vm->p + vm->pos;
    const size_t avail = vm->len - vm->pos;
    const uint8_t *nl = memchr(start, '\n', avail < 256 ? avail : 256);
    if (!nl)
        return avail < 256 ? ln__pk_need(vm, avail + 1) : ln__pk_fail(vm, "GLOBAL name too long");
    *s = (const char *)start;
    *n = (size_t)(nl - start);
    vm->pos += *n + 1;
    return 0;
}

static int ln__pk_int_tuple(const struct ln__pk_obj *o, int64_t *out, int *n)
{
    if (o->kind != LN__PK_TUPLE || o->u.seq.n > LN_TENSOR_MAX_DIMS)
        return -1;
    for (size_t i = 0; i < o->u.seq.n; i++) {
        if (o->u.seq.items[i]->kind != LN__PK_INT)
            return -1;
        out[i] = o->u.seq.items[i]->u.i;
    }
    *n = (int)o->u.seq.n;
    return 0;
}

static int ln__pk_reduce(struct ln__pk *vm)
{
    struct ln__pk_obj *args = ln__pk_pop(vm);
    struct ln__pk_obj *fn = args ? ln__pk_pop(vm) : NULL;
    if (!fn)
        return LN_EMODEL;
    if (fn->kind != LN__PK_GLOBAL || args->kind != LN__PK_TUPLE)
        return ln__pk_fail(vm, "REDUCE on something that is not a known callable");
    if (fn->u.glob.g == LN__PK_G_ORDERED_DICT) {
        if (args->u.seq.n != 0)
            return ln__pk_fail(vm, "OrderedDict called with arguments");
        return ln__pk_push(vm, ln__pk_new(vm, LN__PK_DICT));
    }
    if (fn->u.glob.g != LN__PK_G_REBUILD_TENSOR_V2)
        return ln__pk_fail(vm, "a storage class is called");
    struct ln__pk_obj **a = args->u.seq.items;
    if (args->u.seq.n != 6 && args->u.seq.n != 7)
        return ln__pk_fail(vm, "_rebuild_tensor_v2 needs 6 or 7 arguments");
    struct ln__pk_obj *t = ln__pk_new(vm, LN__PK_TENSOR);
    if (!t)
        return LN_EMODEL;
    int n_size, n_stride;
    if (a[0]->kind != LN__PK_STORAGE || a[1]->kind != LN__PK_INT ||
        ln__pk_int_tuple(a[2], t->u.tensor.shape, &n_size) < 0 ||
        ln__pk_int_tuple(a[3], t->u.tensor.strides, &n_stride) < 0 || n_size != n_stride ||
        (a[4]->kind != LN__PK_BOOL && a[4]->kind != LN__PK_INT))
        return ln__pk_fail(vm, "malformed _rebuild_tensor_v2 arguments (storage, offset, size, "
                               "stride, requires_grad, hooks)");
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    t->u.tensor.ndim = n_size;
    return ln__pk_push(vm, t);
}

static int ln__pk_persid(struct ln__pk *vm)
{
    struct ln__pk_obj *pid = ln__pk_pop(vm);
    if (!pid)
        return LN_EMODEL;
    struct ln__pk_obj **a = pid->u.seq.items;
    if (pid->kind != LN__PK_TUPLE || pid->u.seq.n != 5 || a[0]->kind != LN__PK_STR ||
        !ln__pk_is(a[0]->u.str.s, a[0]->u.str.n, "storage") || a[1]->kind != LN__PK_GLOBAL ||
        a[1]->u.glob.g != LN__PK_G_STORAGE || a[2]->kind != LN__PK_STR || a[4]->kind != LN__PK_INT)
        return ln__pk_fail(vm, "persistent id is not ('storage', class, key, location, numel)");
    struct ln__pk_obj *s = ln__pk_new(vm, LN__PK_STORAGE);
    if (!s)
        return LN_EMODEL;
    s->u.storage.dt = a[1]->u.glob.dt;
    int rc = vm->storage_fn(vm->user, a[2]->u.str.s, a[2]->u.str.n, s->u.storage.dt, a[4]->u.i,
                            &s->u.storage.data, &s->u.storage.bytes, vm->err);
    if (rc < 0)
        return rc;
    return ln__pk_push(vm, s);
}

/* Executes one opcode. Returns 1 at STOP, 0 to go on, < 0 on error. */
static int ln__pk_step(struct ln__pk *vm, struct ln__pk_obj **result)
{
    int rc;
    if (ln__pk_need(vm, 1) < 0)
        return LN_EMODEL;
    vm->op_pos = vm->pos;
    const uint8_t op = vm->p[vm->pos++];
    const uint8_t *arg = vm->p + vm->pos;
    struct ln__pk_obj *o, *k, *v;
    switch (op) {
    case 0x80: /* PROTO */
        if ((rc = ln__pk_need(vm, 1)) < 0)
            return rc;
        if (arg[0] > 5)
            return ln__pk_fail(vm, "unsupported pickle protocol");
        vm->pos += 1;
        return 0;
    case 0x95: /* FRAME: framing is only a hint to buffered readers */
        if ((rc = ln__pk_need(vm, 8)) < 0)
            return rc;
        vm->pos += 8;
        return 0;
    case 'c': { /* GLOBAL */
        const char *mod, *name;
        size_t mod_len, name_len;
        if ((rc = ln__pk_line(vm, &mod, &mod_len)) < 0 ||
            (rc = ln__pk_line(vm, &name, &name_len)) < 0)
            return rc;
        return ln__pk_global(vm, mod, mod_len, name, name_len);
    }
    case 0x93: /* STACK_GLOBAL */
        v = ln__pk_pop(vm);
        k = v ? ln__pk_pop(vm) : NULL;
        if (!k)
            return LN_EMODEL;
        if (k->kind != LN__PK_STR || v->kind != LN__PK_STR)
            return ln__pk_fail(vm, "STACK_GLOBAL needs two strings");
        return ln__pk_global(vm, k->u.str.s, k->u.str.n, v->u.str.s, v->u.str.n);
    case 'q': /* BINPUT */
        if ((rc = ln__pk_need(vm, 1)) < 0)
            return rc;
        vm->pos += 1;
        return ln__pk_memo_put(vm, arg[0]);
    case 'r': /* LONG_BINPUT */
        if ((rc = ln__pk_need(vm, 4)) < 0)
            return rc;
        vm->pos += 4;
        return ln__pk_memo_put(vm, ln__pk_le(arg, 4));
    case 0x94: /* MEMOIZE */
        return ln__pk_memo_put(vm, vm->n_memo);
    case 'h': /* BINGET */
        if ((rc = ln__pk_need(vm, 1)) < 0)
            return rc;
        vm->pos += 1;
        return ln__pk_memo_get(vm, arg[0]);
    case 'j': /* LONG_BINGET */
        if ((rc = ln__pk_need(vm, 4)) < 0)
            return rc;
        vm->pos += 4;
        return ln__pk_memo_get(vm, ln__pk_le(arg, 4));
    case '(': /* MARK */
        if (vm->n_marks >= LN__PK_MAX_STACK)
            return ln__pk_fail(vm, "too many marks");
        if (vm->n_marks == vm->cap_marks) {
            vm->cap_marks = vm->cap_marks ? 2 * vm->cap_marks : 16;
            vm->marks = ln_xrealloc(vm->marks, vm->cap_marks * sizeof *vm->marks);
        }
        vm->marks[vm->n_marks++] = vm->sp;
        return 0;
    case ')': /* EMPTY_TUPLE */
        return ln__pk_push(vm, ln__pk_new(vm, LN__PK_TUPLE));
    case 't': /* TUPLE */
        o = ln__pk_pop_mark(vm, LN__PK_TUPLE);
        return o ? ln__pk_push(vm, o) : LN_EMODEL;
    case 0x85:   /* TUPLE1 */
    case 0x86:   /* TUPLE2 */
    case 0x87: { /* TUPLE3 */
        const size_t n = (size_t)(op - 0x84);
        if (vm->sp - ln__pk_base(vm) < n)
            return ln__pk_fail(vm, "stack underflow");
        if (!(o = ln__pk_new(vm, LN__PK_TUPLE)))
            return LN_EMODEL;
        for (size_t i = vm->sp - n; i < vm->sp; i++)
            ln__pk_seq_push(o, vm->stack[i]);
        vm->sp -= n;
        return ln__pk_push(vm, o);
    }
    case '}': /* EMPTY_DICT */
        return ln__pk_push(vm, ln__pk_new(vm, LN__PK_DICT));
    case ']': /* EMPTY_LIST */
        return ln__pk_push(vm, ln__pk_new(vm, LN__PK_LIST));
    case 's': /* SETITEM */
        v = ln__pk_pop(vm);
        k = v ? ln__pk_pop(vm) : NULL;
        o = k ? ln__pk_top(vm) : NULL;
        if (!o)
            return LN_EMODEL;
        if (o->kind != LN__PK_DICT)
            return ln__pk_fail(vm, "SETITEM on something that is not a dict");
        ln__pk_seq_push(o, k);
        ln__pk_seq_push(o, v);
        return 0;
    case 'u':   /* SETITEMS */
    case 'e': { /* APPENDS */
        if (!(o = ln__pk_pop_mark(vm, LN__PK_TUPLE)))
            return LN_EMODEL;
        struct ln__pk_obj *dst = ln__pk_top(vm);
        if (!dst)
            return LN_EMODEL;
        if (op == 'u' && (dst->kind != LN__PK_DICT || o->u.seq.n % 2 != 0))
            return ln__pk_fail(vm, "SETITEMS on something that is not a dict");
        if (op == 'e' && dst->kind != LN__PK_LIST)
            return ln__pk_fail(vm, "APPENDS on something that is not a list");
        for (size_t i = 0; i < o->u.seq.n; i++)
            ln__pk_seq_push(dst, o->u.seq.items[i]);
        return 0;
    }
    case 'a': /* APPEND */
        v = ln__pk_pop(vm);
        o = v ? ln__pk_top(vm) : NULL;
        if (!o)
            return LN_EMODEL;
        if (o->kind != LN__PK_LIST)
            return ln__pk_fail(vm, "APPEND on something that is not a list");
        ln__pk_seq_push(o, v);
        return 0;
    case 'X':   /* BINUNICODE */
    case 0x8c:  /* SHORT_BINUNICODE */
    case 'B':   /* BINBYTES */
    case 'C': { /* SHORT_BINBYTES */
        const int wide = op == 'X' || op == 'B';
        if ((rc = ln__pk_need(vm, wide ? 4 : 1)) < 0)
            return rc;
        const uint64_t n = wide ? ln__pk_le(arg, 4) : arg[0];
        vm->pos += wide ? 4 : 1;
        if ((rc = ln__pk_need(vm, (size_t)n)) < 0)
            return rc;
        if (!(o = ln__pk_new(vm, (op == 'X' || op == 0x8c) ? LN__PK_STR : LN__PK_BYTES)))
            return LN_EMODEL;
        o->u.str.s = (const char *)vm->p + vm->pos;
        o->u.str.n = (size_t)n;
        vm->pos += (size_t)n;
        return ln__pk_push(vm, o);
    }
    case 'J':   /* BININT */
    case 'K':   /* BININT1 */
    case 'M': { /* BININT2 */
        const int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if ((rc = ln__pk_need(vm, (size_t)n)) < 0)
            return rc;
        if (!(o = ln__pk_new(vm, LN__PK_INT)))
            return LN_EMODEL;
        const uint64_t u = ln__pk_le(arg, n);
        o->u.i = op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
        vm->pos += (size_t)n;
        return ln__pk_push(vm, o);
    }
    case 0x8a: { /* LONG1 */
        if ((rc = ln__pk_need(vm, 1)) < 0)
            return rc;
        const size_t n = arg[0];
        vm->pos += 1;
        if ((rc = ln__pk_need(vm, n)) < 0)
            return rc;
        if (n > 8)
            return ln__pk_fail(vm, "integer too large");
        if (!(o = ln__pk_new(vm, LN__PK_INT)))
            return LN_EMODEL;
        uint64_t u = ln__pk_le(arg + 1, (int)n);
        if (n > 0 && n < 8 && (arg[n] & 0x80))
            u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
        o->u.i = (int64_t)u;
        vm->pos += n;
        return ln__pk_push(vm, o);
    }
    case 'G': /* BINFLOAT (big-endian); parsed as bits, never used */
        if ((rc = ln__pk_need(vm, 8)) < 0)
            return rc;
        vm->pos += 8;
        return ln__pk_push(vm, ln__pk_new(vm, LN__PK_FLOAT));
    case 'N': /* NONE */
        return ln__pk_push(vm, ln__pk_new(vm, LN__PK_NONE));
    case 0x88: /* NEWTRUE */
    case 0x89: /* NEWFALSE */
        if (!(o = ln__pk_new(vm, LN__PK_BOOL)))
            return LN_EMODEL;
        o->u.i = op == 0x88;
        return ln__pk_push(vm, o);
    case 'Q': /* BINPERSID */
        return ln__pk_persid(vm);
    case 'R': /* REDUCE */
        return ln__pk_reduce(vm);
    case 'b': /* BUILD: only the state dict's _metadata attribute, ignored */
        v = ln__pk_pop(vm);
        o = v ? ln__pk_top(vm) : NULL;
        if (!o)
            return LN_EMODEL;
        if (o->kind != LN__PK_DICT)
            return ln__pk_fail(vm, "BUILD on something that is not a dict");
        return 0;
    case '.': /* STOP */
        if (!(*result = ln__pk_pop(vm)))
            return LN_EMODEL;
        return 1;
    default: {
        char what[64];
        snprintf(what, sizeof what, "unsupported pickle opcode 0x%02x", op);
        return ln__pk_fail(vm, what);
    }
    }
}

static int ln__pk_add_tensors(struct ln__pk *vm, const struct ln__pk_obj *top)
{
    if (top->kind != LN__PK_DICT)
        return ln__weights_fail(vm->w, vm->err, "data.pkl does not hold a dict of tensors");
    for (size_t i = 0; i + 1 < top->u.seq.n; i += 2) {
        const struct ln__pk_obj *k = top->u.seq.items[i], *v = top->u.seq.items[i + 1];
        if (k->kind != LN__PK_STR)
            return ln__weights_fail(vm->w, vm->err, "data.pkl: a state-dict key is not a string");
        if (v->kind != LN__PK_TENSOR)
            return ln__weights_fail(vm->w, vm->err, "data.pkl: value of %.*s is not a tensor",
                                    (int)(k->u.str.n > 120 ? 120 : k->u.str.n), k->u.str.s);
        const struct ln__pk_obj *s = v->u.tensor.storage;
        struct ln_tensor_info t = {0};
        t.dtype = s->u.storage.dt;
        t.ndim = v->u.tensor.ndim;
        memcpy(t.shape, v->u.tensor.shape, sizeof t.shape);
        memcpy(t.strides, v->u.tensor.strides, sizeof t.strides);
        t.offset = v->u.tensor.offset;
        t.storage = s->u.storage.data;
        t.storage_bytes = s->u.storage.bytes;
        int rc = ln__weights_add(vm->w, &t, k->u.str.s, k->u.str.n, vm->err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ln__pickle_load_state_dict(struct ln_weights *w, const uint8_t *pkl, size_t len,
                               ln__pickle_storage_fn storage_fn, void *user, struct ln_error *err)
{
    struct ln__pk vm = {
        .w = w, .err = err, .p = pkl, .len = len, .storage_fn = storage_fn, .user = user};
    struct ln__pk_obj *result = NULL;
    int rc;
    while ((rc = ln__pk_step(&vm, &result)) == 0)
        ;
    if (rc == 1)
        rc = ln__pk_add_tensors(&vm, result);

    for (size_t i = 0; i < vm.n_objects; i++) {
        struct ln__pk_obj *o = vm.objects[i];
        if (o->kind == LN__PK_TUPLE || o->kind == LN__PK_LIST || o->kind == LN__PK_DICT)
            free(o->u.seq.items);
        free(o);
    }
    free(vm.objects);
    free(vm.stack);
    free(vm.marks);
    free(vm.memo);
    return rc < 0 ? rc : 0;
}
