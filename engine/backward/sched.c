/*
 * sched.c — learning-rate schedules: constant, step decay and cosine
 * annealing (torch's StepLR / CosineAnnealingLR in closed form), with an
 * optional linear warm-up in front.
 */
#include "engine/autograd.h"

#include <math.h>

float nk_lr_at(const nk_lr_sched *s, int step)
{
    if (step < 0)
        step = 0;
    double base = s->base_lr;
    if (s->warmup > 0 && step < s->warmup)
        return (float)(base * (double)(step + 1) / (double)s->warmup);
    int t = step - (s->warmup > 0 ? s->warmup : 0);
    switch (s->kind) {
    case NK_LR_STEP:
        if (s->step_size <= 0)
            return (float)base;
        return (float)(base * pow((double)s->gamma, (double)(t / s->step_size)));
    case NK_LR_COSINE: {
        int T = s->total - (s->warmup > 0 ? s->warmup : 0);
        if (T <= 0)
            return (float)base;
        if (t > T)
            t = T;
        return (float)(s->min_lr + (base - s->min_lr) *
                                       (1.0 + cos(M_PI * t / (double)T)) /
                                       2.0);
    }
    default:
        return (float)base;
    }
}
