/*
 * arena.h — a bump allocator for graph-lifetime data (names, attributes,
 * node arrays), freed all at once with the graph, like git's mem-pool.
 */
#ifndef NK_ARENA_H
#define NK_ARENA_H

#include <stddef.h>

typedef struct nk_arena_block nk_arena_block;

typedef struct nk_arena {
    nk_arena_block *head;
    size_t used_total;
} nk_arena;

/* Zeroed, 16-byte aligned memory, or NULL when out of memory. */
void *nk_arena_alloc(nk_arena *a, size_t n);
char *nk_arena_strdup(nk_arena *a, const char *s);
void *nk_arena_memdup(nk_arena *a, const void *p, size_t n);
void nk_arena_release(nk_arena *a);

#endif /* NK_ARENA_H */
