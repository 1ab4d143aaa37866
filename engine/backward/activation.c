/*
 * activation.c (backward) — gradients of the element-wise activations
 * with PyTorch's conventions at the kinks (ReLU: x > 0; Clip/ReLU6 and
 * HardSigmoid: strictly inside the linear range; HardSwish: torch's
 * piecewise derivative), and the mask of a fused Relu/Clip.
 */
#include "engine/backward/backward.h"

#include <float.h>
#include <math.h>

void nk_bwd_unary(const nk_bstep *b, int phase, int ith, int nth)
{
    const nk_step *st = b->fwd;
    const nk_node *n = st->node;
    float *dx = b->dx[0];
    if (!dx)
        return;
    bool acc = b->acc[0];
    const float *x = st->in[0]->data, *y = st->out[0]->data, *dy = b->dy;
    int64_t i, e;
    nk_split(nk_shape_numel(&st->out[0]->shape), ith, nth, &i, &e);
    switch (n->op) {
    case NK_OP_RELU:
        for (; i < e; i++)
            nk_bput(&dx[i], x[i] > 0.0f ? dy[i] : 0.0f, acc);
        break;
    case NK_OP_CLIP: {
        float lo = nk_node_float(n, "min", -FLT_MAX);
        float hi = nk_node_float(n, "max", FLT_MAX);
        if (st->n_in > 1 && st->in[1])
            lo = *(const float *)st->in[1]->data;
        if (st->n_in > 2 && st->in[2])
            hi = *(const float *)st->in[2]->data;
        for (; i < e; i++)
            nk_bput(&dx[i], x[i] > lo && x[i] < hi ? dy[i] : 0.0f, acc);
        break;
    }
    case NK_OP_LEAKYRELU: {
        float a = nk_node_float(n, "alpha", 0.01f);
        for (; i < e; i++)
            nk_bput(&dx[i], x[i] > 0.0f ? dy[i] : a * dy[i], acc);
        break;
    }
    case NK_OP_SIGMOID:
        for (; i < e; i++)
            nk_bput(&dx[i], dy[i] * y[i] * (1.0f - y[i]), acc);
        break;
    case NK_OP_TANH:
        for (; i < e; i++)
            nk_bput(&dx[i], dy[i] * (1.0f - y[i] * y[i]), acc);
        break;
    case NK_OP_HARDSIGMOID: {
        float a = nk_node_float(n, "alpha", 0.2f);
        float c = nk_node_float(n, "beta", 0.5f);
        for (; i < e; i++) {
            float t = a * x[i] + c;
            nk_bput(&dx[i], t > 0.0f && t < 1.0f ? a * dy[i] : 0.0f, acc);
        }
        break;
    }
    case NK_OP_HARDSWISH:
        for (; i < e; i++) {
            float v = x[i], g;
            if (v < -3.0f)
                g = 0.0f;
            else if (v <= 3.0f)
                g = dy[i] * (v / 3.0f + 0.5f);
            else
                g = dy[i];
            nk_bput(&dx[i], g, acc);
        }
        break;
    default:
        NK_ASSERT(!"not an activation");
    }
}

void nk_bwd_fused_act(const nk_node *n, const float *y, float *dy,
                      int64_t b, int64_t e)
{
    /* The output of a fused Relu/Clip tells where the slope is 1. */
    if (n->act == NK_ACT_RELU) {
        for (int64_t i = b; i < e; i++)
            if (!(y[i] > 0.0f))
                dy[i] = 0.0f;
    } else if (n->act == NK_ACT_CLIP) {
        float lo = n->act_a0, hi = n->act_a1;
        for (int64_t i = b; i < e; i++)
            if (!(y[i] > lo && y[i] < hi))
                dy[i] = 0.0f;
    }
}
