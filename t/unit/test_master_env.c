/* deps: master_env */
/*
 * Taking another process's environment for `moongate -s reload` (master_env.c): the
 * NAME=value entries of /proc/PID/environ replace this process's own, so that `${NAME}`
 * is expanded as in the running master.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master.h"

START_TEST(test_set_replaces_the_environment)
{
    setenv("MG_T_CALLER", "mine", 1);
    char buf[] = "MG_T_A=1\0MG_T_B=x=y\0MG_T_EMPTY=\0no-equals\0=nameless\0";
    char copy[sizeof(buf)];
    memcpy(copy, buf, sizeof(buf));
    ck_assert_int_eq(mg_master_env_set(buf, sizeof(buf) - 1), MG_OK);
    ck_assert_ptr_null(getenv("MG_T_CALLER"));
    ck_assert_str_eq(getenv("MG_T_A"), "1");
    ck_assert_str_eq(getenv("MG_T_B"), "x=y");
    ck_assert_str_eq(getenv("MG_T_EMPTY"), "");
    ck_assert_ptr_null(getenv("no-equals"));
    ck_assert_msg(memcmp(buf, copy, sizeof(buf)) == 0, "the buffer is given back as it was");
}
END_TEST

START_TEST(test_set_drops_an_entry_cut_short)
{
    char buf[] = "MG_T_A=1\0MG_T_CUT=2";
    ck_assert_int_eq(mg_master_env_set(buf, sizeof(buf) - 1), MG_OK);
    ck_assert_str_eq(getenv("MG_T_A"), "1");
    ck_assert_ptr_null(getenv("MG_T_CUT"));
    ck_assert_int_eq(mg_master_env_set(buf, 0), MG_OK);
    ck_assert_ptr_null(getenv("MG_T_A"));
}
END_TEST

/* Starts `sleep` with the environment envp; returns once it runs the new program (its
 * /proc/PID/environ is then envp), the pipe's write end closing at exec. */
static pid_t spawn(char *const envp[])
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *const argv[] = {"sleep", "10", NULL};
        execve("/bin/sleep", argv, envp);
        _exit(127);
    }
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 0);
    close(p[0]);
    return pid;
}

START_TEST(test_adopt_another_process)
{
    char *const envp[] = {"MG_T_MASTER=s3cret", "PATH=/nowhere", NULL};
    pid_t pid = spawn(envp);
    setenv("MG_T_CALLER", "mine", 1);
    char why[256] = "";
    int rc = mg_master_env_adopt(pid, why, sizeof(why));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_msg(rc == MG_OK, "%s", why);
    ck_assert_str_eq(getenv("MG_T_MASTER"), "s3cret");
    ck_assert_str_eq(getenv("PATH"), "/nowhere");
    ck_assert_ptr_null(getenv("MG_T_CALLER"));
}
END_TEST

START_TEST(test_adopt_unreadable_keeps_ours)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, NULL, 0); /* reaped: no /proc/PID any more */
    setenv("MG_T_CALLER", "mine", 1);
    char why[256] = "";
    ck_assert_int_eq(mg_master_env_adopt(pid, why, sizeof(why)), MG_DECLINED);
    ck_assert_msg(strstr(why, "cannot read /proc/") != NULL, "%s", why);
    ck_assert_str_eq(getenv("MG_T_CALLER"), "mine");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("master_env");
    TCase *tc = tcase_create("env");
    tcase_add_test(tc, test_set_replaces_the_environment);
    tcase_add_test(tc, test_set_drops_an_entry_cut_short);
    tcase_add_test(tc, test_adopt_another_process);
    tcase_add_test(tc, test_adopt_unreadable_keeps_ours);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
