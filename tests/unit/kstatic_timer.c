/* kstatic's deadline lists (examples/kstatic/timer.c): FIFO order by
 * deadline, re-arming moves an entry to the tail (also across lists),
 * disarming unlinks it, and the wait until the earliest deadline. */
#include <stddef.h>

#include "test.h"
#include "../../examples/kstatic/timer.h"

int main(void)
{
	struct timer_list a, b;
	struct timer_link t[4] = { 0 };

	timer_list_init(&a, 100);
	timer_list_init(&b, 500);
	test_ok(timer_first(&a) == NULL && timer_wait_ms(&a, 0) == -1, "an empty list: no entry, no wait");

	timer_arm(&a, &t[0], 1000);  /* due 1100 */
	timer_arm(&a, &t[1], 1010);  /* due 1110 */
	timer_arm(&a, &t[2], 1020);  /* due 1120 */
	test_ok(timer_first(&a) == &t[0] && t[0].deadline == 1100, "the first armed is first, due now + ms");
	test_ok(timer_wait_ms(&a, 1050) == 50, "wait until the earliest: %d ms", timer_wait_ms(&a, 1050));
	test_ok(timer_due(&a, 1099) == NULL, "nothing due before the deadline");
	test_ok(timer_due(&a, 1100) == &t[0] && timer_wait_ms(&a, 1200) == 0, "due at the deadline; wait 0 past it");

	/* activity on t[0]: re-armed, it goes behind the others */
	timer_arm(&a, &t[0], 1030);
	test_ok(timer_first(&a) == &t[1] && a.head.prev == &t[0] && t[0].deadline == 1130,
		"re-arming moves an entry to the tail with its new deadline");

	/* t[1] moves to another list (another kind of timeout) */
	timer_arm(&b, &t[1], 1040);
	test_ok(timer_first(&a) == &t[2] && timer_first(&b) == &t[1] && t[1].deadline == 1540,
		"arming on another list takes the entry out of the first");

	timer_disarm(&t[2]);
	timer_disarm(&t[2]);  /* twice is harmless */
	test_ok(timer_first(&a) == &t[0] && t[2].next == NULL && t[2].prev == NULL,
		"disarming unlinks (and is idempotent)");
	timer_disarm(&t[3]);  /* never armed */
	test_ok(t[3].next == NULL, "disarming an entry never armed does nothing");

	/* expiry walk: everything due in order, then nothing */
	timer_arm(&a, &t[2], 1035);  /* due 1135, behind t[0] (1130) */
	struct timer_link *x, *order[4];
	size_t n = 0;
	while ((x = timer_due(&a, 2000)) && n < 4) {
		order[n++] = x;
		timer_disarm(x);
	}
	test_ok(n == 2 && order[0] == &t[0] && order[1] == &t[2] && timer_first(&a) == NULL,
		"expiry in deadline order (%zu due)", n);
	test_ok(timer_first(&b) == &t[1] && timer_due(&b, 1539) == NULL && timer_due(&b, 1540) == &t[1],
		"the other list is untouched");
	int64_t t0 = timer_now_ms();
	test_ok(t0 > 0 && timer_now_ms() >= t0, "the monotonic clock moves forward");
	return test_done();
}
