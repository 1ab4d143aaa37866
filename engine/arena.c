/*
 * arena.c — bump allocator for graph-lifetime data.
 */
#include "engine/arena.h"
#include "engine/ctx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct nk_arena_block {
    nk_arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

#define NK_ARENA_BLOCK (64 * 1024)

void *nk_arena_alloc(nk_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    nk_arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = n > NK_ARENA_BLOCK ? n : NK_ARENA_BLOCK;
        if (sz > SIZE_MAX - sizeof *b)
            return NULL;
        b = nk_malloc(sizeof *b + sz);
        if (!b)
            return NULL;
        b->size = sz;
        b->used = 0;
        /* Keep the current block first when the new one is a one-off big
         * allocation, so its leftover space is not wasted. */
        if (a->head && sz == n) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

char *nk_arena_strdup(nk_arena *a, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = nk_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void *nk_arena_memdup(nk_arena *a, const void *src, size_t n)
{
    void *p = nk_arena_alloc(a, n);
    if (p && n)
        memcpy(p, src, n);
    return p;
}

void nk_arena_release(nk_arena *a)
{
    nk_arena_block *b = a->head;
    while (b) {
        nk_arena_block *n = b->next;
        nk_free(b);
        b = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
