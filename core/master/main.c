/*
 * main.c -- the command line: run the master in the foreground, test a config, signal a
 * running master, print versions.
 *
 *   moongate [-p PREFIX] [-c FILE]            run (foreground)
 *   moongate [-p PREFIX] [-c FILE] -t         test the configuration, exit 0 or 1
 *   moongate [-p PREFIX] [-c FILE] -s SIGNAL  reload | stop | quit the running master
 *   moongate -v                               versions of moongate and its libraries
 */
#include "conf.h"
#include "lua_runtime.h"
#include "listen.h"
#include "master.h"
#include "router.h"

#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <hiredis.h>
#include <limits.h>
#include <luajit.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "llhttp.h"

typedef struct {
    char prefix[PATH_MAX];
    char conf[PATH_MAX];
    const char *signal;
    bool test;
} cli_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: moongate [-p PREFIX] [-c FILE] [-t | -s reload|stop|quit] [-v] [-h]\n"
               "  -p PREFIX  base of relative paths (default: the current directory)\n"
               "  -c FILE    configuration file (default: PREFIX/conf/moongate.yaml)\n"
               "  -t         test the configuration and exit\n"
               "  -s SIGNAL  send reload, stop (fast) or quit (graceful) to the running master\n"
               "  -v         print the version and the linked libraries' versions\n"
               "  -h         this help\n");
}

static void print_versions(void)
{
    printf("moongate %s\n", MG_VERSION);
    printf("  llhttp %d.%d.%d\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
    printf("  libev %d.%d\n", ev_version_major(), ev_version_minor());
    printf("  libyaml %s\n", yaml_get_version_string());
    printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("  %s (headers)\n", LUAJIT_VERSION);
    printf("  lua runtime: %s\n", mg_runtime_lua_dir());
}

/* Absolute prefix; a relative -c is taken as typed when that file exists, else under
 * the prefix (so both "-c t/servroot/conf/x.yaml" and "-p t/servroot -c conf/x.yaml"
 * work). The configuration path is made absolute but symlinks are kept: a reload
 * reads what the path names then. */
static int resolve_paths(cli_t *cli, const char *prefix, const char *conf)
{
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        fprintf(stderr, "moongate: getcwd: %s\n", strerror(errno));
        return MG_ERROR;
    }
    if (prefix == NULL) {
        snprintf(cli->prefix, sizeof(cli->prefix), "%s", cwd);
    } else if (realpath(prefix, cli->prefix) == NULL) {
        fprintf(stderr, "moongate: prefix %s: %s\n", prefix, strerror(errno));
        return MG_ERROR;
    }
    int n;
    if (conf == NULL) {
        n = snprintf(cli->conf, sizeof(cli->conf), "%s/conf/moongate.yaml", cli->prefix);
    } else if (conf[0] == '/') {
        n = snprintf(cli->conf, sizeof(cli->conf), "%s", conf);
    } else if (access(conf, F_OK) == 0) {
        n = snprintf(cli->conf, sizeof(cli->conf), "%s/%s", cwd, conf);
    } else {
        n = snprintf(cli->conf, sizeof(cli->conf), "%s/%s", cli->prefix, conf);
    }
    if (n < 0 || (size_t)n >= sizeof(cli->conf)) {
        fprintf(stderr, "moongate: configuration path too long\n");
        return MG_ERROR;
    }
    return MG_OK;
}

/* Loads and fully validates the configuration (routes included). On error writes it
 * into msg (len bytes), sets *unset_env when it is a `${NAME}` whose variable is not
 * set, and returns NULL. */
static mg_conf_t *load_msg(const cli_t *cli, char *msg, size_t len, bool *unset_env)
{
    mg_conf_err_t err = {0};
    *unset_env = false;
    mg_conf_t *conf = mg_conf_load(cli->conf, cli->prefix, &err);
    if (conf == NULL) {
        mg_conf_err_format(&err, msg, len);
        *unset_env = err.unset_env;
        return NULL;
    }
    if (mg_master_validate(conf, msg, len) != MG_OK) {
        mg_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* load_msg() that prints the error unless quiet. */
static mg_conf_t *load(const cli_t *cli, bool quiet)
{
    char msg[1400];
    bool unset_env;
    mg_conf_t *conf = load_msg(cli, msg, sizeof(msg), &unset_env);
    if (conf == NULL && !quiet) {
        fprintf(stderr, "moongate: %s\n", msg);
    }
    return conf;
}

/* Warns about each address of conf that cannot be bound now (in use, no permission):
 * a start would fail on it. A reload would not when the running master already holds
 * that very address, which is why this is a warning, not an error. */
static void warn_unbindable(const mg_conf_t *conf)
{
    for (size_t i = 0; i <= conf->nlisten; i++) {
        const mg_listen_conf_t *lc = i < conf->nlisten ? &conf->listen[i] : conf->admin;
        if (lc == NULL) {
            continue;
        }
        int rc = mg_listen_probe((const struct sockaddr *)&lc->addr.sa, lc->addr.salen);
        if (rc < 0) {
            fprintf(stderr,
                    "moongate: warning: %s%s cannot be bound now: %s (a start would fail; a "
                    "reload keeps an address the running master already listens on)\n",
                    i < conf->nlisten ? "listen " : "admin listen ", lc->addr.text, strerror(-rc));
        }
    }
}

static int cmd_test(const cli_t *cli)
{
    mg_conf_t *conf = load(cli, false);
    if (conf == NULL) {
        fprintf(stderr, "moongate: configuration file %s test failed\n", cli->conf);
        return 1;
    }
    warn_unbindable(conf);
    fprintf(stderr, "moongate: configuration file %s test is successful\n", conf->file);
    mg_conf_destroy(conf);
    return 0;
}

/* The configuration file the master behind pid_file reloads (written next to its pid
 * file at start) names the same file as `conf`? MG_OK, or MG_ERROR with why not in why
 * (len bytes). */
static int same_file_as_master(const char *conf, const char *pid_file, long pid, char *why,
                               size_t len)
{
    char side[PATH_MAX + 16], theirs[PATH_MAX];
    snprintf(side, sizeof(side), "%s%s", pid_file, MG_PID_CONF_SUFFIX);
    FILE *f = fopen(side, "r");
    bool got = f != NULL && fgets(theirs, sizeof(theirs), f) != NULL;
    if (!got) {
        snprintf(why, len,
                 "reload refused: cannot tell which file the running master (pid %ld) "
                 "reloads: %s: %s; send it SIGHUP to reload the file it was started with",
                 pid, side, f == NULL ? strerror(errno) : "empty");
    }
    if (f != NULL) {
        fclose(f);
    }
    if (!got) {
        return MG_ERROR;
    }
    theirs[strcspn(theirs, "\n")] = '\0';
    struct stat a, b;
    if (stat(conf, &a) == 0 && stat(theirs, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
        return MG_OK;
    }
    snprintf(why, len,
             "reload refused: the running master (pid %ld) reloads %s, not %s. Put the new "
             "configuration in %s, or restart moongate with -c %s",
             pid, theirs, conf, theirs, conf);
    return MG_ERROR;
}

/* The pid file of the master `conf` (NULL: a file that did not load) runs with: its
 * pid_file, else the default one under the prefix, into out (len bytes). MG_OK, or
 * MG_ERROR after saying the path is too long. */
static int pid_file_path(const cli_t *cli, const mg_conf_t *conf, char *out, size_t len)
{
    int n = conf != NULL ? snprintf(out, len, "%s", conf->pid_file)
                         : snprintf(out, len, "%s/logs/moongate.pid", cli->prefix);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "moongate: pid file path too long\n");
        return MG_ERROR;
    }
    return MG_OK;
}

/* The pid in pid_file, or 0 with why there is none in why (len bytes). */
static long read_pid(const char *pid_file, char *why, size_t len)
{
    FILE *f = fopen(pid_file, "r");
    long pid = 0;
    if (f == NULL || fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
        snprintf(why, len, "cannot read a pid from %s: %s", pid_file,
                 f == NULL ? strerror(errno) : "no pid in it");
        pid = 0;
    }
    if (f != NULL) {
        fclose(f);
    }
    return pid;
}

static int send_signal(long pid, int sig)
{
    if (kill((pid_t)pid, sig) < 0) {
        fprintf(stderr, "moongate: kill(%ld, %s): %s\n", pid, strsignal(sig), strerror(errno));
        return 1;
    }
    return 0;
}

/* The pid file of the master to reload. The file is parsed here for its pid_file, in
 * this process's environment, which may lack a variable only the master has (set by
 * a service manager): such a file falls back on the default pid file, and
 * same_file_as_master() then tells whether the master found there is the one that
 * reloads this file. */
static int reload_pid_file(const cli_t *cli, char *out, size_t len)
{
    mg_conf_err_t err;
    mg_conf_t *conf = mg_conf_load(cli->conf, cli->prefix, &err);
    int rc = pid_file_path(cli, conf, out, len);
    mg_conf_destroy(conf);
    return rc;
}

/* -s reload when no running master reloads this file (why says what was found): the
 * file is still checked first, in this environment, so that a broken one is reported
 * as such rather than as a missing master. Exits 1 either way. */
static int reload_without_master(const cli_t *cli, const char *why)
{
    char msg[1400];
    bool unset_env;
    mg_conf_t *conf = load_msg(cli, msg, sizeof(msg), &unset_env);
    if (conf != NULL) {
        mg_conf_destroy(conf);
        fprintf(stderr, "moongate: %s\n", why);
        return 1;
    }
    fprintf(stderr, "moongate: %s\n", msg);
    if (unset_env) {
        fprintf(stderr,
                "moongate: note: ${NAME} was looked up in this environment, for want of the "
                "running master's: %s\n",
                why);
    }
    fprintf(stderr, "moongate: reload rejected, the running configuration stays\n");
    return 1;
}

/* -s reload: finds the master that reloads this file, checks the file as that master
 * will -- `${NAME}` from its environment, not the caller's -- so that the caller sees
 * the error, and signals it only when the file is valid. */
static int cmd_reload(const cli_t *cli)
{
    char pid_file[PATH_MAX], why[4 * PATH_MAX + 256];
    if (reload_pid_file(cli, pid_file, sizeof(pid_file)) != MG_OK) {
        return 1;
    }
    long pid = read_pid(pid_file, why, sizeof(why));
    /* the master reloads the file it was started with: checking another one would
     * report on a file that is not the one loaded */
    if (pid == 0 || same_file_as_master(cli->conf, pid_file, pid, why, sizeof(why)) != MG_OK) {
        return reload_without_master(cli, why);
    }
    char env_why[256];
    int env = mg_master_env_adopt(pid, env_why, sizeof(env_why));
    if (env == MG_ERROR) {
        fprintf(stderr, "moongate: %s\n", env_why);
        return 1;
    }
    char msg[1400];
    bool unset_env;
    mg_conf_t *conf = load_msg(cli, msg, sizeof(msg), &unset_env);
    if (conf == NULL) {
        fprintf(stderr, "moongate: %s\n", msg);
        if (unset_env && env == MG_DECLINED) {
            fprintf(stderr,
                    "moongate: note: ${NAME} was looked up in this environment, not the "
                    "running master's: %s; kill -HUP %ld reloads with the master's own\n",
                    env_why, pid);
        }
        fprintf(stderr, "moongate: reload rejected, the running configuration stays\n");
        return 1;
    }
    mg_conf_destroy(conf);
    return send_signal(pid, SIGHUP);
}

static int cmd_signal(const cli_t *cli)
{
    int sig;
    if (strcmp(cli->signal, "reload") == 0) {
        return cmd_reload(cli);
    } else if (strcmp(cli->signal, "stop") == 0) {
        sig = SIGTERM;
    } else if (strcmp(cli->signal, "quit") == 0) {
        sig = SIGQUIT;
    } else {
        fprintf(stderr, "moongate: unknown signal \"%s\" (reload, stop or quit)\n", cli->signal);
        return 1;
    }
    /* a file that does not load still names its master: the default pid file */
    mg_conf_t *conf = load(cli, true);
    char pid_file[PATH_MAX], why[PATH_MAX + 64];
    int rc = pid_file_path(cli, conf, pid_file, sizeof(pid_file));
    mg_conf_destroy(conf);
    if (rc != MG_OK) {
        return 1;
    }
    long pid = read_pid(pid_file, why, sizeof(why));
    if (pid == 0) {
        fprintf(stderr, "moongate: %s\n", why);
        return 1;
    }
    return send_signal(pid, sig);
}

int main(int argc, char **argv)
{
    cli_t cli = {0};
    const char *prefix = NULL, *conf_arg = NULL;
    int c;
    while ((c = getopt(argc, argv, "c:p:ts:vh")) != -1) {
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 't':
            cli.test = true;
            break;
        case 's':
            cli.signal = optarg;
            break;
        case 'v':
            print_versions();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "moongate: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 1;
    }
    if (resolve_paths(&cli, prefix, conf_arg) != MG_OK) {
        return 1;
    }
    if (cli.test) {
        return cmd_test(&cli);
    }
    if (cli.signal != NULL) {
        return cmd_signal(&cli);
    }
    mg_conf_t *conf = load(&cli, false);
    if (conf == NULL) {
        return 1;
    }
    return mg_master_run(conf, cli.conf);
}
