/*
 * unpickle.c — the restricted pickle interpreter for torch checkpoints.
 * Nothing is imported or called: GLOBAL resolves against a fixed allow-
 * list, and REDUCE/BUILD/BINPERSID are interpreted for those names only.
 */
#include "formats/pth/unpickle.h"

#include <stdalign.h>
#include <string.h>

#define MAX_STACK (1u << 20)
#define MAX_MARKS (1u << 16)
#define MAX_MEMO (1u << 22)
#define MAX_VALUES (1u << 24)
#define MAX_STRING ((size_t)1 << 26)

/* ---- allow-listed globals -------------------------------------------- */

enum {
    G_ORDERED_DICT = 0,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_PARAMETER,
    G_REBUILD_PARAMETER_WITH_STATE,
    G_STORAGE /* + nk_pth_dtype */
};

static const struct {
    const char *module, *name;
    int id;
} allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER},
    {"torch._utils", "_rebuild_parameter_with_state",
     G_REBUILD_PARAMETER_WITH_STATE},
    {"torch", "FloatStorage", G_STORAGE + NK_PTH_F32},
    {"torch", "HalfStorage", G_STORAGE + NK_PTH_F16},
    {"torch", "BFloat16Storage", G_STORAGE + NK_PTH_BF16},
    {"torch", "DoubleStorage", G_STORAGE + NK_PTH_F64},
    {"torch", "LongStorage", G_STORAGE + NK_PTH_I64},
    {"torch", "IntStorage", G_STORAGE + NK_PTH_I32},
    {"torch", "ShortStorage", G_STORAGE + NK_PTH_I16},
    {"torch", "CharStorage", G_STORAGE + NK_PTH_I8},
    {"torch", "ByteStorage", G_STORAGE + NK_PTH_U8},
    {"torch", "BoolStorage", G_STORAGE + NK_PTH_BOOL},
};

#define ALLOWED_LIST                                                     \
    "collections.OrderedDict, torch._utils._rebuild_tensor_v2, "         \
    "torch._utils._rebuild_parameter and the torch.*Storage types"

static const struct {
    const char *name;
    size_t size;
} dtype_info[NK_PTH_DTYPE_COUNT] = {
    [NK_PTH_F32] = {"f32", 4}, [NK_PTH_F16] = {"f16", 2},
    [NK_PTH_BF16] = {"bf16", 2}, [NK_PTH_F64] = {"f64", 8},
    [NK_PTH_I64] = {"i64", 8}, [NK_PTH_I32] = {"i32", 4},
    [NK_PTH_I16] = {"i16", 2}, [NK_PTH_I8] = {"i8", 1},
    [NK_PTH_U8] = {"u8", 1},   [NK_PTH_BOOL] = {"bool", 1},
};

const char *nk_pth_dtype_name(nk_pth_dtype dt)
{
    return (unsigned)dt < NK_PTH_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

size_t nk_pth_dtype_size(nk_pth_dtype dt)
{
    return (unsigned)dt < NK_PTH_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

/* ---- allocation ---------------------------------------------------- */

typedef union alloc_hdr {
    union alloc_hdr *next;
    max_align_t align;
} alloc_hdr;

typedef struct unpickler {
    nk_ctx *ctx;
    const char *where;
    const uint8_t *b;
    size_t len, pos, op_pos;
    nk_pickle *p;
    nk_pv **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    nk_pv **memo;
    size_t memo_cap, memo_count;
} unpickler;

static void *palloc(unpickler *u, size_t n)
{
    size_t total;
    if (!nk_add_size(n, sizeof(alloc_hdr), &total))
        return NULL;
    alloc_hdr *h = nk_malloc(total);
    if (!h)
        return NULL;
    h->next = u->p->allocs;
    u->p->allocs = h;
    return h + 1;
}

void nk_pickle_free(nk_pickle *p)
{
    if (!p)
        return;
    alloc_hdr *h = p->allocs;
    while (h) {
        alloc_hdr *next = h->next;
        nk_free(h);
        h = next;
    }
    memset(p, 0, sizeof *p);
}

static nk_status oom(unpickler *u)
{
    return nk_fail(u->ctx, NK_NOMEM, "%s: out of memory at byte %zu",
                   u->where, u->op_pos);
}

static nk_status bad(unpickler *u, const char *what)
{
    return nk_fail(u->ctx, NK_FORMAT, "%s: %s (opcode 0x%02x at byte %zu)",
                   u->where, what, u->b[u->op_pos], u->op_pos);
}

static nk_pv *new_value(unpickler *u, nk_pv_kind kind)
{
    if (u->p->n_values >= MAX_VALUES)
        return NULL;
    nk_pv *v = palloc(u, sizeof *v);
    if (!v)
        return NULL;
    memset(v, 0, sizeof *v);
    v->kind = kind;
    u->p->n_values++;
    return v;
}

/* Grow an array of pointers (seq items, dict keys/values) by doubling;
 * old blocks stay on the alloc list until the pickle is freed. */
static bool grow_ptrs(unpickler *u, nk_pv ***arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 8, bytes;
    if (nc > MAX_VALUES || !nk_mul_size(nc, sizeof(nk_pv *), &bytes))
        return false;
    nk_pv **na = palloc(u, bytes);
    if (!na)
        return false;
    if (n)
        memcpy(na, *arr, n * sizeof(nk_pv *));
    *arr = na;
    *cap = nc;
    return true;
}

static nk_status seq_append(unpickler *u, nk_pv *seq, nk_pv *item)
{
    if (!grow_ptrs(u, &seq->u.seq.items, seq->u.seq.n, &seq->u.seq.cap))
        return oom(u);
    seq->u.seq.items[seq->u.seq.n++] = item;
    return NK_OK;
}

static nk_status dict_set(unpickler *u, nk_pv *d, nk_pv *k, nk_pv *v)
{
    size_t cap = d->u.dict.cap;
    if (!grow_ptrs(u, &d->u.dict.keys, d->u.dict.n, &cap))
        return oom(u);
    if (!grow_ptrs(u, &d->u.dict.vals, d->u.dict.n, &d->u.dict.cap))
        return oom(u);
    d->u.dict.cap = cap;
    d->u.dict.keys[d->u.dict.n] = k;
    d->u.dict.vals[d->u.dict.n] = v;
    d->u.dict.n++;
    return NK_OK;
}

const nk_pv *nk_pv_dict_get(const nk_pv *d, const char *key)
{
    if (!d || d->kind != NK_PV_DICT)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = d->u.dict.n; i-- > 0;) {
        const nk_pv *k = d->u.dict.keys[i];
        if (k->kind == NK_PV_STR && k->u.str.len == klen &&
            memcmp(k->u.str.s, key, klen) == 0)
            return d->u.dict.vals[i];
    }
    return NULL;
}

/* ---- input ------------------------------------------------------------ */

static bool take(unpickler *u, size_t n, const uint8_t **out)
{
    if (n > u->len - u->pos)
        return false;
    *out = u->b + u->pos;
    u->pos += n;
    return true;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- stack --------------------------------------------------------- */

static nk_status push(unpickler *u, nk_pv *v)
{
    if (!v)
        return u->p->n_values >= MAX_VALUES
                   ? bad(u, "too many values (limit reached)")
                   : oom(u);
    if (u->sp == u->stack_cap) {
        if (u->sp >= MAX_STACK)
            return bad(u, "pickle stack too deep");
        size_t nc = u->stack_cap ? u->stack_cap * 2 : 64;
        nk_pv **ns = nk_realloc(u->stack, nc * sizeof *ns);
        if (!ns)
            return oom(u);
        u->stack = ns;
        u->stack_cap = nc;
    }
    u->stack[u->sp++] = v;
    return NK_OK;
}

/* Lowest stack index still above the current mark (the mark itself is
 * removed). */
static nk_status pop_mark(unpickler *u, size_t *base)
{
    if (u->n_marks == 0)
        return bad(u, "no MARK on the stack");
    *base = u->marks[--u->n_marks];
    if (*base > u->sp)
        return bad(u, "MARK above the stack top");
    return NK_OK;
}

static nk_pv *pop(unpickler *u)
{
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    if (u->sp <= floor)
        return NULL;
    return u->stack[--u->sp];
}

static nk_pv *top(unpickler *u)
{
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    return u->sp > floor ? u->stack[u->sp - 1] : NULL;
}

/* The value just below stack index base (the container of APPENDS and
 * SETITEMS), if it is above the enclosing mark. */
static nk_pv *below(unpickler *u, size_t base)
{
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    return base > floor ? u->stack[base - 1] : NULL;
}

/* ---- values ------------------------------------------------------ */

static nk_pv *make_int(unpickler *u, int64_t i)
{
    nk_pv *v = new_value(u, NK_PV_INT);
    if (v)
        v->u.i = i;
    return v;
}

static nk_pv *make_str(unpickler *u, nk_pv_kind kind, const uint8_t *s,
                       size_t n)
{
    nk_pv *v = new_value(u, kind);
    if (!v)
        return NULL;
    char *c = palloc(u, n + 1);
    if (!c)
        return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    v->u.str.s = c;
    v->u.str.len = n;
    return v;
}

static nk_status op_string(unpickler *u, nk_pv_kind kind, int width)
{
    const uint8_t *p, *s;
    if (!take(u, (size_t)width, &p))
        return bad(u, "truncated string length");
    uint64_t n = le(p, width);
    if (n > MAX_STRING)
        return bad(u, "string longer than the 64 MiB limit");
    if (!take(u, (size_t)n, &s))
        return bad(u, "string runs past the end of data.pkl");
    return push(u, make_str(u, kind, s, (size_t)n));
}

static nk_status build_tuple(unpickler *u, size_t base)
{
    nk_pv *t = new_value(u, NK_PV_TUPLE);
    if (!t)
        return push(u, NULL);
    for (size_t i = base; i < u->sp; i++) {
        nk_status st = seq_append(u, t, u->stack[i]);
        if (st)
            return st;
    }
    u->sp = base;
    return push(u, t);
}

static nk_status build_small_tuple(unpickler *u, int n)
{
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    if (u->sp < floor + (size_t)n)
        return bad(u, "stack underflow building a tuple");
    return build_tuple(u, u->sp - (size_t)n);
}

/* Refuse everything outside the allow-list, by its dotted name. */
static nk_status resolve_global(unpickler *u, const char *mod, size_t mlen,
                                const char *name, size_t nlen)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strlen(allowed[i].module) == mlen &&
            memcmp(allowed[i].module, mod, mlen) == 0 &&
            strlen(allowed[i].name) == nlen &&
            memcmp(allowed[i].name, name, nlen) == 0) {
            nk_pv *v = new_value(u, NK_PV_GLOBAL);
            if (v)
                v->u.global = allowed[i].id;
            return push(u, v);
        }
    }
    /* Print at most 200 bytes of each part, with non-printables as '?'. */
    char m[201], n[201];
    size_t ml = mlen < 200 ? mlen : 200, nl = nlen < 200 ? nlen : 200;
    for (size_t i = 0; i < ml; i++)
        m[i] = (mod[i] >= 0x20 && mod[i] < 0x7f) ? mod[i] : '?';
    for (size_t i = 0; i < nl; i++)
        n[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    m[ml] = n[nl] = '\0';
    if (strcmp(m, "torch._utils") == 0 && strcmp(n, "_rebuild_qtensor") == 0)
        return nk_fail(u->ctx, NK_UNSUPPORTED,
                       "%s: refusing to import 'torch._utils._rebuild_qtensor'"
                       ": quantized tensors in a checkpoint are not supported "
                       "(save the float model's state dict)",
                       u->where);
    if (strcmp(m, "torch.storage") == 0 && strcmp(n, "_load_from_bytes") == 0)
        return nk_fail(u->ctx, NK_UNSUPPORTED,
                       "%s: refusing to import 'torch.storage._load_from_bytes'"
                       ": it would unpickle nested legacy bytes; re-save "
                       "with torch.save from torch >= 1.6",
                       u->where);
    return nk_fail(u->ctx, NK_UNSUPPORTED,
                   "%s: refusing to import '%s.%s': a tensor state dict only "
                   "uses " ALLOWED_LIST " (byte %zu)",
                   u->where, m, n, u->op_pos);
}

/* GLOBAL: "module\nname\n" (protocol 0 text lines). */
static nk_status op_global(unpickler *u)
{
    const uint8_t *start = u->b + u->pos;
    size_t left = u->len - u->pos;
    const uint8_t *nl1 = memchr(start, '\n', left);
    if (!nl1)
        return bad(u, "GLOBAL module name is not terminated");
    size_t mlen = (size_t)(nl1 - start);
    const uint8_t *nstart = nl1 + 1;
    const uint8_t *nl2 = memchr(nstart, '\n', left - mlen - 1);
    if (!nl2)
        return bad(u, "GLOBAL name is not terminated");
    size_t nlen = (size_t)(nl2 - nstart);
    u->pos += mlen + nlen + 2;
    return resolve_global(u, (const char *)start, mlen, (const char *)nstart,
                          nlen);
}

static nk_status op_stack_global(unpickler *u)
{
    nk_pv *name = pop(u), *mod = pop(u);
    if (!name || !mod || name->kind != NK_PV_STR || mod->kind != NK_PV_STR)
        return bad(u, "STACK_GLOBAL needs two strings on the stack");
    return resolve_global(u, mod->u.str.s, mod->u.str.len, name->u.str.s,
                          name->u.str.len);
}

static bool int_tuple(const nk_pv *t, int64_t *out, int *rank)
{
    if (t->kind != NK_PV_TUPLE || t->u.seq.n > NK_MAX_RANK)
        return false;
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.items[i]->kind != NK_PV_INT ||
            t->u.seq.items[i]->u.i < 0)
            return false;
        out[i] = t->u.seq.items[i]->u.i;
    }
    *rank = (int)t->u.seq.n;
    return true;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) */
static nk_status rebuild_tensor(unpickler *u, const nk_pv *args)
{
    size_t n = args->u.seq.n;
    if (n != 6 && n != 7)
        return bad(u, "_rebuild_tensor_v2 takes 6 or 7 arguments");
    nk_pv **a = args->u.seq.items;
    if (a[0]->kind != NK_PV_STORAGE)
        return bad(u, "_rebuild_tensor_v2: argument 1 is not a storage");
    if (a[1]->kind != NK_PV_INT || a[1]->u.i < 0)
        return bad(u, "_rebuild_tensor_v2: bad storage offset");
    nk_pv *t = new_value(u, NK_PV_TENSOR);
    if (!t)
        return push(u, NULL);
    int rs, rt;
    if (!int_tuple(a[2], t->u.tensor.size, &rs) ||
        !int_tuple(a[3], t->u.tensor.stride, &rt) || rs != rt)
        return bad(u, "_rebuild_tensor_v2: size/stride are not tuples of "
                      "non-negative ints of equal rank <= 8");
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    t->u.tensor.rank = rs;
    return push(u, t);
}

static nk_status op_reduce(unpickler *u)
{
    nk_pv *args = pop(u), *fn = pop(u);
    if (!args || !fn || args->kind != NK_PV_TUPLE)
        return bad(u, "REDUCE needs a callable and an argument tuple");
    if (fn->kind != NK_PV_GLOBAL)
        return bad(u, "REDUCE on a value that is not an allowed callable");
    size_t n = args->u.seq.n;
    nk_pv **a = args->u.seq.items;
    switch (fn->u.global) {
    case G_ORDERED_DICT: {
        nk_pv *d = new_value(u, NK_PV_DICT);
        if (!d)
            return push(u, NULL);
        if (n == 1 && a[0]->kind == NK_PV_LIST) {
            /* OrderedDict([(k, v), ...]) */
            for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                nk_pv *kv = a[0]->u.seq.items[i];
                if (kv->kind != NK_PV_TUPLE || kv->u.seq.n != 2)
                    return bad(u, "OrderedDict item is not a pair");
                nk_status st =
                    dict_set(u, d, kv->u.seq.items[0], kv->u.seq.items[1]);
                if (st)
                    return st;
            }
        } else if (n != 0) {
            return bad(u, "OrderedDict called with unexpected arguments");
        }
        return push(u, d);
    }
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(u, args);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_WITH_STATE:
        if (n < 3 || a[0]->kind != NK_PV_TENSOR)
            return bad(u, "_rebuild_parameter needs a tensor argument");
        return push(u, a[0]);
    default:
        return bad(u, "a storage type cannot be called");
    }
}

/* BINPERSID with ('storage', storage_type, key, location, numel). */
static nk_status op_persid(unpickler *u)
{
    nk_pv *pid = pop(u);
    if (!pid || pid->kind != NK_PV_TUPLE || pid->u.seq.n != 5)
        return bad(u, "persistent id is not a 5-tuple ('storage', type, key, "
                      "location, numel)");
    nk_pv **a = pid->u.seq.items;
    if (a[0]->kind != NK_PV_STR || strcmp(a[0]->u.str.s, "storage") != 0)
        return bad(u, "persistent id does not start with 'storage'");
    if (a[1]->kind != NK_PV_GLOBAL || a[1]->u.global < G_STORAGE)
        return bad(u, "persistent id has no torch storage type");
    if (a[2]->kind != NK_PV_STR || a[2]->u.str.len == 0 ||
        a[2]->u.str.len != strlen(a[2]->u.str.s) ||
        strchr(a[2]->u.str.s, '/'))
        return bad(u, "persistent id has a bad storage key");
    if (a[4]->kind != NK_PV_INT || a[4]->u.i < 0)
        return bad(u, "persistent id has a bad element count");
    nk_pv *s = new_value(u, NK_PV_STORAGE);
    if (!s)
        return push(u, NULL);
    s->u.storage.dtype = (nk_pth_dtype)(a[1]->u.global - G_STORAGE);
    s->u.storage.key = a[2]->u.str.s;
    s->u.storage.numel = a[4]->u.i;
    return push(u, s);
}

static nk_status memo_put(unpickler *u, uint64_t idx)
{
    nk_pv *v = top(u);
    if (!v)
        return bad(u, "memo store from an empty stack");
    if (idx >= MAX_MEMO)
        return bad(u, "memo index beyond the limit");
    if (idx >= u->memo_cap) {
        size_t nc = u->memo_cap ? u->memo_cap : 64;
        while (nc <= idx)
            nc *= 2;
        nk_pv **nm = nk_realloc(u->memo, nc * sizeof *nm);
        if (!nm)
            return oom(u);
        memset(nm + u->memo_cap, 0, (nc - u->memo_cap) * sizeof *nm);
        u->memo = nm;
        u->memo_cap = nc;
    }
    if (!u->memo[idx])
        u->memo_count++;
    u->memo[idx] = v;
    return NK_OK;
}

static nk_status memo_get(unpickler *u, uint64_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx])
        return bad(u, "memo lookup of an unset index");
    return push(u, u->memo[idx]);
}

static nk_status step(unpickler *u, uint8_t op, bool *stop)
{
    const uint8_t *p;
    nk_status st;
    size_t base;
    switch (op) {
    case 0x80: /* PROTO */
        if (!take(u, 1, &p))
            return bad(u, "truncated PROTO");
        if (p[0] > 5)
            return bad(u, "pickle protocol above 5");
        return NK_OK;
    case 0x95: /* FRAME: an 8-byte length; frames are just a hint */
        return take(u, 8, &p) ? NK_OK : bad(u, "truncated FRAME");
    case '.': /* STOP */
        *stop = true;
        return NK_OK;
    case '(': /* MARK */
        if (u->n_marks == u->marks_cap) {
            if (u->n_marks >= MAX_MARKS)
                return bad(u, "too many nested MARKs");
            size_t nc = u->marks_cap ? u->marks_cap * 2 : 16;
            size_t *nm = nk_realloc(u->marks, nc * sizeof *nm);
            if (!nm)
                return oom(u);
            u->marks = nm;
            u->marks_cap = nc;
        }
        u->marks[u->n_marks++] = u->sp;
        return NK_OK;
    case '}': /* EMPTY_DICT */
        return push(u, new_value(u, NK_PV_DICT));
    case ']': /* EMPTY_LIST */
        return push(u, new_value(u, NK_PV_LIST));
    case ')': /* EMPTY_TUPLE */
        return push(u, new_value(u, NK_PV_TUPLE));
    case 'N':
        return push(u, new_value(u, NK_PV_NONE));
    case 0x88: /* NEWTRUE */
    case 0x89: { /* NEWFALSE */
        nk_pv *v = new_value(u, NK_PV_BOOL);
        if (v)
            v->u.b = op == 0x88;
        return push(u, v);
    }
    case 'X': /* BINUNICODE */
        return op_string(u, NK_PV_STR, 4);
    case 0x8c: /* SHORT_BINUNICODE */
        return op_string(u, NK_PV_STR, 1);
    case 0x8d: /* BINUNICODE8 */
        return op_string(u, NK_PV_STR, 8);
    case 'C': /* SHORT_BINBYTES */
        return op_string(u, NK_PV_BYTES, 1);
    case 'B': /* BINBYTES */
        return op_string(u, NK_PV_BYTES, 4);
    case 'J': /* BININT: signed 32-bit */
        if (!take(u, 4, &p))
            return bad(u, "truncated BININT");
        return push(u, make_int(u, (int32_t)(uint32_t)le(p, 4)));
    case 'K': /* BININT1 */
        if (!take(u, 1, &p))
            return bad(u, "truncated BININT1");
        return push(u, make_int(u, p[0]));
    case 'M': /* BININT2 */
        if (!take(u, 2, &p))
            return bad(u, "truncated BININT2");
        return push(u, make_int(u, (int64_t)le(p, 2)));
    case 0x8a: { /* LONG1: n-byte little-endian two's complement */
        if (!take(u, 1, &p))
            return bad(u, "truncated LONG1");
        size_t n = p[0];
        if (n > 8)
            return nk_fail(u->ctx, NK_UNSUPPORTED,
                           "%s: integer of %zu bytes at byte %zu does not fit "
                           "in 64 bits",
                           u->where, n, u->op_pos);
        if (!take(u, n, &p))
            return bad(u, "truncated LONG1");
        uint64_t v = n ? le(p, (int)n) : 0;
        if (n > 0 && n < 8 && (p[n - 1] & 0x80))
            v |= ~(uint64_t)0 << (8 * n);
        return push(u, make_int(u, (int64_t)v));
    }
    case 'G': { /* BINFLOAT: big-endian double */
        if (!take(u, 8, &p))
            return bad(u, "truncated BINFLOAT");
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits = (bits << 8) | p[i];
        nk_pv *v = new_value(u, NK_PV_FLOAT);
        if (v)
            memcpy(&v->u.f, &bits, sizeof bits);
        return push(u, v);
    }
    case 't': /* TUPLE */
        if ((st = pop_mark(u, &base)))
            return st;
        return build_tuple(u, base);
    case 0x85: /* TUPLE1..3 */
    case 0x86:
    case 0x87:
        return build_small_tuple(u, op - 0x84);
    case 'l': { /* LIST */
        if ((st = pop_mark(u, &base)))
            return st;
        nk_pv *l = new_value(u, NK_PV_LIST);
        if (!l)
            return push(u, NULL);
        for (size_t i = base; i < u->sp; i++)
            if ((st = seq_append(u, l, u->stack[i])))
                return st;
        u->sp = base;
        return push(u, l);
    }
    case 'd': { /* DICT */
        if ((st = pop_mark(u, &base)))
            return st;
        if ((u->sp - base) % 2)
            return bad(u, "DICT with an odd number of items");
        nk_pv *d = new_value(u, NK_PV_DICT);
        if (!d)
            return push(u, NULL);
        for (size_t i = base; i < u->sp; i += 2)
            if ((st = dict_set(u, d, u->stack[i], u->stack[i + 1])))
                return st;
        u->sp = base;
        return push(u, d);
    }
    case 'a': { /* APPEND */
        nk_pv *v = pop(u), *l = top(u);
        if (!v || !l || l->kind != NK_PV_LIST)
            return bad(u, "APPEND to something that is not a list");
        return seq_append(u, l, v);
    }
    case 'e': { /* APPENDS */
        if ((st = pop_mark(u, &base)))
            return st;
        nk_pv *l = below(u, base);
        if (!l || l->kind != NK_PV_LIST)
            return bad(u, "APPENDS to something that is not a list");
        for (size_t i = base; i < u->sp; i++)
            if ((st = seq_append(u, l, u->stack[i])))
                return st;
        u->sp = base;
        return NK_OK;
    }
    case 's': { /* SETITEM */
        nk_pv *v = pop(u), *k = pop(u), *d = top(u);
        if (!v || !k || !d || d->kind != NK_PV_DICT)
            return bad(u, "SETITEM on something that is not a dict");
        return dict_set(u, d, k, v);
    }
    case 'u': { /* SETITEMS */
        if ((st = pop_mark(u, &base)))
            return st;
        nk_pv *d = below(u, base);
        if (!d || d->kind != NK_PV_DICT || (u->sp - base) % 2)
            return bad(u, "SETITEMS on something that is not a dict, or "
                          "with an odd number of items");
        for (size_t i = base; i < u->sp; i += 2)
            if ((st = dict_set(u, d, u->stack[i], u->stack[i + 1])))
                return st;
        u->sp = base;
        return NK_OK;
    }
    case '0': /* POP */
        if (pop(u))
            return NK_OK;
        if (u->n_marks) { /* POP of a bare MARK */
            u->n_marks--;
            return NK_OK;
        }
        return bad(u, "POP from an empty stack");
    case '1': /* POP_MARK */
        if ((st = pop_mark(u, &base)))
            return st;
        u->sp = base;
        return NK_OK;
    case '2': { /* DUP */
        nk_pv *v = top(u);
        if (!v)
            return bad(u, "DUP of an empty stack");
        return push(u, v);
    }
    case 'q': /* BINPUT */
        if (!take(u, 1, &p))
            return bad(u, "truncated BINPUT");
        return memo_put(u, p[0]);
    case 'r': /* LONG_BINPUT */
        if (!take(u, 4, &p))
            return bad(u, "truncated LONG_BINPUT");
        return memo_put(u, le(p, 4));
    case 0x94: /* MEMOIZE */
        return memo_put(u, u->memo_count);
    case 'h': /* BINGET */
        if (!take(u, 1, &p))
            return bad(u, "truncated BINGET");
        return memo_get(u, p[0]);
    case 'j': /* LONG_BINGET */
        if (!take(u, 4, &p))
            return bad(u, "truncated LONG_BINGET");
        return memo_get(u, le(p, 4));
    case 'c': /* GLOBAL */
        return op_global(u);
    case 0x93: /* STACK_GLOBAL */
        return op_stack_global(u);
    case 'R': /* REDUCE */
        return op_reduce(u);
    case 'Q': /* BINPERSID */
        return op_persid(u);
    case 'b': { /* BUILD: state set on OrderedDict (_metadata) is ignored */
        nk_pv *state = pop(u), *obj = top(u);
        if (!state || !obj)
            return bad(u, "BUILD needs an object and a state");
        if (obj->kind != NK_PV_DICT)
            return bad(u, "BUILD on a value that is not an OrderedDict");
        return NK_OK;
    }
    default:
        return nk_fail(u->ctx, NK_UNSUPPORTED,
                       "%s: pickle opcode 0x%02x at byte %zu is not accepted "
                       "in a tensor state dict",
                       u->where, op, u->op_pos);
    }
}

nk_status nk_unpickle(nk_ctx *ctx, const char *where, const uint8_t *data,
                      size_t len, nk_pickle *p)
{
    memset(p, 0, sizeof *p);
    unpickler u = {.ctx = ctx, .where = where, .b = data, .len = len, .p = p};
    nk_status st = NK_OK;
    bool stop = false;
    while (!stop) {
        if (u.pos >= u.len) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: pickle ends at byte %zu without STOP "
                         "(truncated?)",
                         where, u.len);
            break;
        }
        u.op_pos = u.pos;
        uint8_t op = u.b[u.pos++];
        if ((st = step(&u, op, &stop)))
            break;
    }
    if (!st) {
        if (u.sp != 1 || u.n_marks)
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: pickle stops with %zu values and %zu marks on "
                         "the stack, expected exactly one value",
                         where, u.sp, u.n_marks);
        else
            p->root = u.stack[0];
    }
    nk_free(u.stack);
    nk_free(u.marks);
    nk_free(u.memo);
    return st;
}
