/* A monotonic clock for the training loop's signal checks (no GIL needed). */
#ifndef FASTMLP_CLOCK_H
#define FASTMLP_CLOCK_H

/* Seconds from an arbitrary fixed origin; never goes backwards. */
double fm_monotonic_seconds(void);

#endif
