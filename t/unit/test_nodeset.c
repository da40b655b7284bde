/* deps: nodeset */
/*
 * Merging DNS answers into an upstream's node slots (what stays, what goes, what is
 * new, which slot a new address takes), and the SRV selection of RFC 2782.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "nodeset.h"

#define CAP 8

static mg_nodeset_addr_t a4(uint8_t last, uint16_t port, int weight)
{
    mg_nodeset_addr_t a;
    memset(&a, 0, sizeof(a));
    struct sockaddr_in *s = (struct sockaddr_in *)&a.sa;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr.s_addr = htonl(0x7f000000u | last);
    a.salen = sizeof(*s);
    a.weight = weight;
    return a;
}

static uint8_t last_of(const mg_nodeset_slot_t *sl)
{
    return (uint8_t)(ntohl(((const struct sockaddr_in *)&sl->sa)->sin_addr.s_addr) & 0xff);
}

typedef struct {
    mg_nodeset_slot_t slots[CAP];
    mg_nodeset_t s;
    mg_nodeset_event_t ev[CAP];
} fix_t;

static void fix_init(fix_t *f)
{
    memset(f, 0, sizeof(*f));
    f->s = (mg_nodeset_t){.slots = f->slots, .cap = CAP};
}

START_TEST(test_first_answer)
{
    fix_t f;
    fix_init(&f);
    mg_nodeset_addr_t ans[] = {a4(2, 80, 3), a4(3, 80, 3), a4(2, 80, 3)};
    size_t dropped = 9;
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, ans, 3, f.ev, &dropped), 2);
    ck_assert_uint_eq(dropped, 0);
    ck_assert_uint_eq(f.s.n, 2); /* the duplicate counts once */
    ck_assert_int_eq(f.ev[0], MG_NODESET_NEW);
    ck_assert_int_eq(f.ev[1], MG_NODESET_NEW);
    ck_assert(last_of(&f.slots[0]) == 2 && last_of(&f.slots[1]) == 3);
    ck_assert(f.slots[0].weight == 3 && f.slots[1].origin == 0 && !f.slots[1].gone);
    ck_assert_uint_eq(mg_nodeset_live(&f.s, 0), 2);
    /* the same answer again: nothing moves */
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, ans, 2, f.ev, NULL), 0);
    ck_assert(f.ev[0] == MG_NODESET_SAME && f.ev[1] == MG_NODESET_SAME);
}
END_TEST

START_TEST(test_stay_go_new)
{
    fix_t f;
    fix_init(&f);
    mg_nodeset_addr_t first[] = {a4(2, 80, 1), a4(3, 80, 1)};
    mg_nodeset_merge(&f.s, 0, first, 2, f.ev, NULL);
    f.slots[0].refs = 1; /* a request in flight on 127.0.0.2 */
    mg_nodeset_addr_t next[] = {a4(3, 80, 1), a4(4, 80, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, next, 2, f.ev, NULL), 2);
    ck_assert_int_eq(f.ev[0], MG_NODESET_GONE); /* 127.0.0.2 went: marked, kept in place */
    ck_assert(f.slots[0].gone && last_of(&f.slots[0]) == 2);
    ck_assert_int_eq(f.ev[1], MG_NODESET_SAME); /* 127.0.0.3 stays where it was */
    ck_assert_int_eq(f.ev[2], MG_NODESET_NEW);  /* 127.0.0.4 is new, at the end: slot 0
                                                 * was gone this very turn */
    ck_assert(last_of(&f.slots[2]) == 4 && f.s.n == 3);
    /* later, with 127.0.0.2's request over, a new address reuses its slot */
    f.slots[0].refs = 0;
    mg_nodeset_addr_t third[] = {a4(3, 80, 1), a4(4, 80, 1), a4(5, 80, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, third, 3, f.ev, NULL), 1);
    ck_assert_int_eq(f.ev[0], MG_NODESET_NEW);
    ck_assert(last_of(&f.slots[0]) == 5 && !f.slots[0].gone && f.s.n == 3);
}
END_TEST

START_TEST(test_busy_slot_not_reused_and_revival)
{
    fix_t f;
    fix_init(&f);
    mg_nodeset_addr_t first[] = {a4(2, 80, 1)};
    mg_nodeset_merge(&f.s, 0, first, 1, f.ev, NULL);
    mg_nodeset_addr_t other[] = {a4(3, 80, 1)};
    mg_nodeset_merge(&f.s, 0, other, 1, f.ev, NULL); /* 2 gone (slot 0), 3 new (slot 1) */
    f.slots[0].refs = 2;                             /* still in use */
    mg_nodeset_addr_t more[] = {a4(3, 80, 1), a4(4, 80, 1)};
    mg_nodeset_merge(&f.s, 0, more, 2, f.ev, NULL);
    ck_assert(last_of(&f.slots[2]) == 4 && f.slots[0].gone); /* slot 0 was busy */
    /* 127.0.0.2 comes back: its own gone slot again, busy or not (same address) */
    mg_nodeset_addr_t back[] = {a4(2, 80, 1), a4(3, 80, 1), a4(4, 80, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, back, 3, f.ev, NULL), 1);
    ck_assert(f.ev[0] == MG_NODESET_NEW && !f.slots[0].gone && f.s.n == 3);
}
END_TEST

START_TEST(test_weights_and_ports)
{
    fix_t f;
    fix_init(&f);
    mg_nodeset_addr_t first[] = {a4(2, 80, 1), a4(2, 81, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, first, 2, f.ev, NULL),
                      2); /* two ports: two nodes */
    mg_nodeset_addr_t heavier[] = {a4(2, 80, 5), a4(2, 81, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, heavier, 2, f.ev, NULL), 1);
    ck_assert(f.ev[0] == MG_NODESET_WEIGHT && f.slots[0].weight == 5);
    ck_assert_int_eq(f.ev[1], MG_NODESET_SAME);
}
END_TEST

START_TEST(test_names_apart)
{
    fix_t f;
    fix_init(&f);
    /* a static node (origin 0) in slot 0, as the runtime sets it up */
    mg_nodeset_addr_t st = a4(9, 80, 1);
    f.slots[0] = (mg_nodeset_slot_t){.origin = 0, .sa = st.sa, .salen = st.salen, .weight = 1};
    f.s.n = 1;
    mg_nodeset_addr_t one[] = {a4(2, 80, 1), a4(9, 80, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 1, one, 2, f.ev, NULL), 1);
    ck_assert_uint_eq(f.s.n, 2); /* 127.0.0.9:80 is a node already: not twice */
    mg_nodeset_addr_t two[] = {a4(3, 80, 1)};
    mg_nodeset_merge(&f.s, 2, two, 1, f.ev, NULL);
    /* name 1's next answer leaves out 127.0.0.2: only its own node goes */
    mg_nodeset_addr_t none_of_2[] = {a4(9, 80, 1)};
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 1, none_of_2, 1, f.ev, NULL), 1);
    ck_assert(f.slots[1].gone && !f.slots[0].gone && !f.slots[2].gone);
    ck_assert_uint_eq(mg_nodeset_live(&f.s, -1), 2);
    ck_assert_uint_eq(mg_nodeset_live(&f.s, 2), 1);
}
END_TEST

START_TEST(test_caps)
{
    fix_t f;
    fix_init(&f);
    mg_nodeset_addr_t many[CAP + 3];
    for (size_t i = 0; i < CAP + 3; i++) {
        many[i] = a4((uint8_t)(10 + i), 80, 1);
    }
    size_t dropped;
    ck_assert_uint_eq(mg_nodeset_merge(&f.s, 0, many, CAP + 3, f.ev, &dropped), CAP);
    ck_assert_uint_eq(dropped, 3);
    ck_assert_uint_eq(f.s.n, CAP);
    /* the per-name cap */
    mg_nodeset_slot_t big[MG_NODESET_PER_NAME + 8];
    mg_nodeset_event_t ev[MG_NODESET_PER_NAME + 8];
    mg_nodeset_t s = {.slots = big, .cap = MG_NODESET_PER_NAME + 8};
    mg_nodeset_addr_t *ans = calloc(MG_NODESET_PER_NAME + 5, sizeof(*ans));
    for (size_t i = 0; i < MG_NODESET_PER_NAME + 5; i++) {
        ans[i] = a4((uint8_t)i, (uint16_t)(1000 + i), 1);
    }
    mg_nodeset_merge(&s, 0, ans, MG_NODESET_PER_NAME + 5, ev, &dropped);
    ck_assert_uint_eq(s.n, MG_NODESET_PER_NAME);
    ck_assert_uint_eq(dropped, 5);
    free(ans);
}
END_TEST

START_TEST(test_srv_group_and_weights)
{
    mg_resolver_srv_t recs[] = {
        {.target = "a", .priority = 20, .weight = 5, .port = 1},
        {.target = "b", .priority = 10, .weight = 1, .port = 2},
        {.target = "c", .priority = 30, .weight = 9, .port = 3},
        {.target = "d", .priority = 10, .weight = 0, .port = 4},
    };
    size_t out[4];
    ck_assert_uint_eq(mg_nodeset_srv_group(recs, 4, out), 2);
    ck_assert(out[0] == 1 && out[1] == 3); /* priority 10, in answer order */
    ck_assert_uint_eq(mg_nodeset_srv_group(recs, 1, out), 1);
    ck_assert_uint_eq(mg_nodeset_srv_group(recs, 0, out), 0);
    ck_assert_int_eq(mg_nodeset_srv_weight(0, 10), 1); /* weight 0: the smallest share */
    ck_assert_int_eq(mg_nodeset_srv_weight(7, 10), 7);
    ck_assert_int_eq(mg_nodeset_srv_weight(1000, 1000), 1000);
    ck_assert_int_eq(mg_nodeset_srv_weight(65535, 65535), 1000); /* scaled into 1..1000 */
    ck_assert_int_eq(mg_nodeset_srv_weight(32768, 65535), 500);
    ck_assert_int_eq(mg_nodeset_srv_weight(10, 65535), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nodeset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_first_answer);
    tcase_add_test(tc, test_stay_go_new);
    tcase_add_test(tc, test_busy_slot_not_reused_and_revival);
    tcase_add_test(tc, test_weights_and_ports);
    tcase_add_test(tc, test_names_apart);
    tcase_add_test(tc, test_caps);
    tcase_add_test(tc, test_srv_group_and_weights);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
