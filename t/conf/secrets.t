# Secrets in the configuration: ${NAME} (the environment) and ${file:path} in string
# values, in the core's keys and in plugin configs; errors name the variable or file
# and never print a value; nothing shows the expanded value (logs, /status).
use Test::Moongate;

$ENV{MG_TEST_TOKEN} = 's3cr3t-token-value';
$ENV{MG_TEST_NUMBER} = '7777777';
$ENV{MG_TEST_EMPTY} = '';
$ENV{MG_TEST_HOST} = "127.0.0.1";
delete $ENV{MG_TEST_UNSET};

run_tests();

__DATA__

=== TEST 1: ${NAME} as a whole value and embedded, in a plugin config
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      show:
        a: "${MG_TEST_TOKEN}"
        b: "Bearer ${MG_TEST_TOKEN}!"
        c: ${MG_TEST_NUMBER}
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" }, b = { type = "string" },
        c = { type = "integer" } } },
    access = function(conf)
        return 200, conf.a .. "|" .. conf.b .. "|" .. (conf.c + 1) .. "\n"
    end,
}
--- request
GET /
--- response_body
s3cr3t-token-value|Bearer s3cr3t-token-value!|7777778
--- no_error_log
s3cr3t-token-value



=== TEST 2: ${file:path}, relative to the configuration's directory, one trailing newline removed
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      show: { a: "${file:secrets/key.txt}", b: "[${file:secrets/two-lines.txt}]" }
--- user_files
>>> conf/secrets/key.txt
file-secret
>>> conf/secrets/two-lines.txt
line1
line2
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" }, b = { type = "string" } } },
    access = function(conf) return 200, conf.a .. "|" .. conf.b .. "\n" end,
}
--- request
GET /
--- response_body
file-secret|[line1
line2]



=== TEST 3: $${ is a literal ${, and a lone $ stays
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      show: { a: "$${MG_TEST_TOKEN} costs $5 and $$ ${MG_TEST_EMPTY}end" }
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" } } },
    access = function(conf) return 200, conf.a .. "\n" end,
}
--- request
GET /
--- response_body
${MG_TEST_TOKEN} costs $5 and $$ end



=== TEST 4: core keys get it too (a route's return body, the upstream address)
--- yaml_config
upstreams:
  - name: u
    nodes: [{ address: "${MG_TEST_HOST}:$MG_ECHO_PORT" }]
routes:
  - name: ret
    paths: ["/ret"]
    return: { status: 200, body: "token=${MG_TEST_TOKEN}\n" }
  - name: up
    paths: ["/hello"]
    upstream: u
--- request eval
["GET /ret", "GET /hello"]
--- response_body eval
["token=s3cr3t-token-value\n", "hello world\n"]



=== TEST 5: an unset variable refuses the start at its line and column, naming it
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      show: { a: "x-${MG_TEST_UNSET}" }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:18: routes\[0\]\.plugins\.show\.a: the environment variable MG_TEST_UNSET is not set}]



=== TEST 6: an unreadable secret file refuses the start, naming the file
--- yaml_config
redis: { address: "127.0.0.1:1", password: "${file:nope/redis.pass}" }
routes: []
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:1:44: redis\.password: cannot read the secret file nope/redis\.pass \(\S*conf/nope/redis\.pass\): No such file or directory}]



=== TEST 7: an unknown kind, an empty ${} and an unterminated ${ are errors
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $root = $t->servroot;
    for my $c (['"${vault:db/pass}"', qr{unknown kind of secret "vault" in \$\{vault:db/pass\}}],
               ['"${}"', qr{\$\{\} names no variable}],
               ['"a ${MG_TEST_TOKEN"', qr{unterminated \$\{ \(write \$\$\{ for a literal \$\{\)}],
               ['"${A${B}}"', qr{nested \$\{\.\.\.\} is not supported}],
               ['"${file:}"', qr{\$\{file:\} names no file}]) {
        my ($v, $re) = @$c;
        $t->write_file('conf/bad.yaml', "routes: []\nredis: { address: \"127.0.0.1:1\", password: $v }\n");
        my ($code, $out) = $t->run('-t', '-p', $root, '-c', "$root/conf/bad.yaml");
        is($code, 1, "$v refused");
        like($out, qr{conf/bad\.yaml:2:\d+: redis\.password: $re}, "$v: message") or diag($out);
    }
}



=== TEST 8: an error that quotes a value shows the reference, never the secret
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $root = $t->servroot;
    my @cases = (
        ["worker_processes: \${MG_TEST_TOKEN}\nroutes: []\n",
         qr{worker_processes: expected auto or an integer from 1 to \d+, got "\$\{MG_TEST_TOKEN\}"}],
        ["routes: []\nlua: { stall_timeout: \"\${MG_TEST_TOKEN}\" }\n",
         qr{lua\.stall_timeout: expected a duration .*got "\$\{MG_TEST_TOKEN\}"}],
        ["routes:\n  - { name: r, paths: ['/*'], plugins: { typed: { n: \"\${MG_TEST_TOKEN}\" } } }\n",
         qr{routes\[0\]\.plugins\.typed\.n: expected an integer, got "\$\{MG_TEST_TOKEN\}"}],
        ["routes:\n  - { name: r, paths: ['/*'], plugins: { typed: { e: \"\${MG_TEST_TOKEN}\" } } }\n",
         qr{routes\[0\]\.plugins\.typed\.e: expected one of "a", "b", got "\$\{MG_TEST_TOKEN\}"}],
        ["routes:\n  - { name: r, paths: ['/*'], plugins: { typed: { big: \"\${MG_TEST_NUMBER}\" } } }\n",
         qr{routes\[0\]\.plugins\.typed\.big: must be at most 10, got "\$\{MG_TEST_NUMBER\}"}],
    );
    $t->write_file('plugins/typed.lua', <<'LUA');
return { name = "typed", priority = 1, schema = { type = "record", fields = {
    n = { type = "integer" }, e = { type = "string", enum = { "a", "b" } },
    big = { type = "integer", max = 10 } } } }
LUA
    for my $c (@cases) {
        my ($yaml, $re) = @$c;
        $t->write_file('conf/bad.yaml', $yaml);
        my ($code, $out) = $t->run('-t', '-p', $root, '-c', "$root/conf/bad.yaml");
        is($code, 1, "refused");
        like($out, $re, "quotes the reference") or diag($out);
        unlike($out, qr{s3cr3t-token-value|7777777}, "never the value");
    }
}



=== TEST 9: /status and the debug log never show an expanded value
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { show: { a: "${MG_TEST_TOKEN}" } }
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" } } },
    access = function(conf) return 200, #conf.a .. "\n" end,
}
--- request
GET /
--- response_body
18
--- test_code eval
sub {
    my $t = shift;
    my $res = Test::Moongate::Client::request($t->admin_port, "GET /status", [], 2);
    is($res->{status}, 200, '/status answers');
    unlike($res->{body}, qr/s3cr3t/, '/status does not show the secret');
    unlike($t->error_log, qr/s3cr3t/, 'the debug log does not show it');
}



=== TEST 10: a reload re-reads a secret file
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { show: { a: "${file:token}" } }
--- user_files
>>> conf/token
old-token
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" } } },
    access = function(conf) return 200, conf.a .. "\n" end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_user_files
>>> conf/token
new-token
--- response_body eval
["old-token\n", "new-token\n"]



=== TEST 11: a reload whose secret file is gone is refused; the old value keeps serving
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { show: { a: "${file:token}" } }
--- user_files
>>> conf/token
old-token
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" } } },
    access = function(conf) return 200, conf.a .. "\n" end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { show: { a: "${file:token-gone}" } }
--- reload_fails
--- response_body eval
["old-token\n", "old-token\n"]
--- error_log eval
[qr{reload failed.*cannot read the secret file token-gone}]



=== TEST 12: mapping keys are not expanded; a quoted empty secret is an empty string, not null
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      show:
        a: ${MG_TEST_EMPTY}
        m: { "${MG_TEST_TOKEN}": "${MG_TEST_NUMBER}" }
--- lua_plugins
>>> show.lua
return {
    name = "show", priority = 1,
    schema = { type = "record", fields = { a = { type = "string", default = "default" },
        m = { type = "map", values = { type = "string" } } } },
    access = function(conf)
        local k, v = next(conf.m)
        return 200, "[" .. conf.a .. "] " .. k .. "=" .. v .. "\n"
    end,
}
--- request
GET /
--- response_body
[] ${MG_TEST_TOKEN}=7777777



=== TEST 13: a plugin's own check that quotes the value it refuses shows the reference as written, never the secret (bundled ip-restriction and cors, a record check)
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      ip-restriction: { allow: ["10.0.0.0/8", "${MG_TEST_TOKEN}"] }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:47: routes\[0\]\.plugins\.ip-restriction\.allow\[1\]: .*got "\$\{MG_TEST_TOKEN\}"}]
--- no_error_log
s3cr3t-token-value



=== TEST 14: the same in a cors origin
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      cors: { origins: ["https://ok.example.com", "${MG_TEST_TOKEN}"] }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.cors\.origins\[1\]: .*got "\$\{MG_TEST_TOKEN\}"}]
--- no_error_log
s3cr3t-token-value



=== TEST 15: the same in a record check of a plugin of one's own, quoted or not
--- yaml_config
routes:
  - name: s
    paths: ["/s"]
    return: { status: 200 }
    plugins:
      pair: { a: "${MG_TEST_TOKEN}", b: "${MG_TEST_NUMBER}" }
--- lua_plugins
>>> pair.lua
return {
    name = "pair", version = "1.0", priority = 1,
    schema = { type = "record", fields = { a = { type = "string" }, b = { type = "string" } },
        check = function(c) return nil, "a (" .. c.a .. ") and b (\"" .. c.b .. "\") differ" end },
}
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.pair: a \(\$\{MG_TEST_TOKEN\}\) and b \("\$\{MG_TEST_NUMBER\}"\) differ}]
--- no_error_log
s3cr3t-token-value
7777777
