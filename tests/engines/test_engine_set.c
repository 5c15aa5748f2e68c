/* Unit tests of the engine set: picking by name and by image count, and
 * the messages a refused choice gives (they reach HTTP clients as is). */
#include "testutil.h"

#include <string.h>

#include "ln_engine.h"

/* A single-image engine shaped like triposr, without its weights. */
static const struct ln_engine_ops ln__one_ops = {.name = "triposr", .max_images = 1};
static const struct ln_engine ln__one = {.ops = &ln__one_ops};

static void test_unnamed_picks_the_first_that_accepts(void **state)
{
    (void)state;
    struct ln_engine *sculpt;
    assert_int_equal(ln_engine_sculpt_new(&sculpt, NULL), LN_OK);
    struct ln_engine_set set = {{&ln__one, sculpt}, 2};
    struct ln_error err = {0};
    assert_ptr_equal(ln_engine_set_pick(&set, NULL, 1, &err), &ln__one);
    assert_ptr_equal(ln_engine_set_pick(&set, "", 1, &err), &ln__one);
    assert_ptr_equal(ln_engine_set_pick(&set, NULL, 2, &err), sculpt);
    assert_ptr_equal(ln_engine_set_pick(&set, NULL, LN_MAX_VIEWS, &err), sculpt);
    assert_null(ln_engine_set_pick(&set, NULL, LN_MAX_VIEWS + 1, &err));
    assert_int_equal(err.code, LN_EINVAL);

    struct ln_engine_set only = {{sculpt}, 1};
    assert_ptr_equal(ln_engine_set_pick(&only, NULL, 1, &err), sculpt);
    ln_engine_free(sculpt);
}

static void test_named_must_exist_and_accept_the_count(void **state)
{
    (void)state;
    struct ln_engine *sculpt;
    assert_int_equal(ln_engine_sculpt_new(&sculpt, NULL), LN_OK);
    struct ln_engine_set set = {{&ln__one, sculpt}, 2};
    struct ln_error err = {0};
    assert_ptr_equal(ln_engine_set_pick(&set, "sculpt", 1, &err), sculpt);
    assert_ptr_equal(ln_engine_set_pick(&set, "triposr", 1, &err), &ln__one);

    assert_null(ln_engine_set_pick(&set, "triposr", 2, &err));
    assert_int_equal(err.code, LN_EINVAL);
    assert_string_equal(err.message, "the triposr engine takes one image");

    assert_null(ln_engine_set_pick(&set, "magic", 1, &err));
    assert_int_equal(err.code, LN_EINVAL);
    assert_string_equal(err.message, "engine 'magic' is not available (available: triposr, sculpt)");

    struct ln_engine_set only = {{sculpt}, 1};
    assert_null(ln_engine_set_pick(&only, "triposr", 1, &err));
    assert_string_equal(err.message, "engine 'triposr' is not available (available: sculpt)");
    ln_engine_free(sculpt);
}

static void test_find_and_names(void **state)
{
    (void)state;
    struct ln_engine *sculpt;
    assert_int_equal(ln_engine_sculpt_new(&sculpt, NULL), LN_OK);
    struct ln_engine_set set = {{&ln__one, sculpt}, 2};
    assert_ptr_equal(ln_engine_set_find(&set, "sculpt"), sculpt);
    assert_ptr_equal(ln_engine_set_find(&set, "triposr"), &ln__one);
    assert_null(ln_engine_set_find(&set, "other"));
    assert_null(ln_engine_set_find(&set, NULL));
    assert_null(ln_engine_set_find(NULL, "sculpt"));
    char names[64];
    ln_engine_set_names(&set, names, sizeof names);
    assert_string_equal(names, "triposr, sculpt");
    assert_true(ln_engine_accepts(sculpt, 8));
    assert_false(ln_engine_accepts(sculpt, 0));
    assert_false(ln_engine_accepts(&ln__one, 2));
    ln_engine_free(sculpt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unnamed_picks_the_first_that_accepts),
        cmocka_unit_test(test_named_must_exist_and_accept_the_count),
        cmocka_unit_test(test_find_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
