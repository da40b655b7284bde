# Access-log formats the operator shapes: a template of $variables (nginx's
# log_format) and a list of JSON fields. Every variable, for a request proxied in two
# tries (the first node refuses), for a return: route, for a consumer named by a
# plugin and over TLS; a format switched by a reload; a wrong variable refused at its
# line and column, by a start and by -t.
use Test::Moongate;
use JSON::PP ();
use Time::HiRes ();

# Every variable, in the order the documentation lists them.
our @VARS = qw(time time_iso8601 time_local msec remote_addr remote_port method uri request
    protocol status bytes_sent body_bytes_sent request_length referer user_agent host
    scheme route consumer request_id trace_id upstream_addr upstream_status
    upstream_connect_time upstream_header_time upstream_response_time upstream_time
    upstream_tries request_time plugin_rewrite_time plugin_access_time plugin_balancer_time
    plugin_header_filter_time plugin_body_filter_time plugin_log_time tls_version
    tls_cipher tls_sni peer_addr peer_port);

# 'name=$name|name=${name}|...': every variable once, alternately braced.
sub every_var_template {
    my $i = 0;
    return join '|', map { $i++ % 2 ? "$_=\${$_}" : "$_=\$$_" } @VARS;
}

# 'time, time_iso8601, ...': every variable as a field.
sub every_field_list { return join ', ', @VARS }

# The access log's line matching $re once it is there (workers write asynchronously).
sub wait_line {
    my ($t, $re) = @_;
    my $end = Time::HiRes::time() + 3;
    while (1) {
        my ($line) = grep { $_ =~ $re } split /\n/, $t->access_log;
        return $line if defined $line || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

# name=value|... -> { name => value }
sub fields_of {
    my ($line) = @_;
    return { map { /^(\w+)=(.*)$/s ? ($1, $2) : () } split /\|/, $line // '' };
}

# The keys of a JSON object's top level, in order.
sub top_keys {
    my ($line) = @_;
    my ($depth, @keys) = (0);
    while ($line =~ /\G(?:("(?:[^"\\]|\\.)*")(:?)|([\[{])|([\]}])|[^"\[\]{}]+)/gc) {
        if (defined $3) { $depth++ }
        elsif (defined $4) { $depth-- }
        elsif (defined $1 && $2 && $depth == 1) { push @keys, substr($1, 1, -1) }
    }
    return @keys;
}

run_tests();

__DATA__

=== TEST 1: every template variable, for a request proxied in two tries
--- yaml_config eval
<<"EOF" . "  format: '" . main::every_var_template() . "'\n"
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:\$MG_RAND_PORT_1", weight: 1000 }
      - { address: "127.0.0.1:\$MG_ECHO_PORT" }
    retries: 1
routes:
  - { name: two-tries, paths: ["/*"], upstream: pool }
access_log:
  path: logs/access.log
  buffer: 0
EOF
--- request
GET /hello?x=1
--- more_headers
X-Request-Id: req-shaped-1
User-Agent: moongate-test
Referer: http://ref.example/
--- error_code: 200
--- response_body
hello world
--- test_code eval
sub {
    my $t = shift;
    my $f = main::fields_of(main::wait_line($t, qr/request_id=req-shaped-1\|/));
    my ($dead, $echo) = ($t->fill('$MG_RAND_PORT_1'), $t->echo_port);
    is(scalar(keys %$f), scalar(@main::VARS), 'every variable is in the line')
        or diag(explain($f));
    my $iso = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$/;
    like($f->{time}, $iso, 'time');
    like($f->{time_iso8601}, $iso, 'time_iso8601');
    like($f->{time_local}, qr{^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [-+]\d{4}$}, 'time_local');
    like($f->{msec}, qr/^\d{10}\.\d{3}$/, 'msec');
    ok(abs(($f->{msec} // 0) - Time::HiRes::time()) < 30, "msec is about now ($f->{msec})");
    is($f->{remote_addr}, '127.0.0.1', 'remote_addr');
    like($f->{remote_port}, qr/^\d+$/, 'remote_port');
    is($f->{peer_addr}, '127.0.0.1', 'peer_addr: the peer is the client without trusted_proxies');
    is($f->{peer_port}, $f->{remote_port}, 'peer_port');
    ok(($f->{remote_port} // 0) > 0 && $f->{remote_port} < 65536, 'remote_port in range');
    is($f->{method}, 'GET', 'method');
    is($f->{uri}, '/hello?x=1', 'uri: the request target');
    is($f->{request}, 'GET /hello?x=1 HTTP/1.1', 'request');
    is($f->{protocol}, 'HTTP/1.1', 'protocol');
    is($f->{status}, 200, 'status');
    is($f->{body_bytes_sent}, 12, 'body_bytes_sent: "hello world\n"');
    ok(($f->{bytes_sent} // 0) > 12 + 40, "bytes_sent counts the head too ($f->{bytes_sent})");
    ok(($f->{request_length} // 0) > 60, "request_length ($f->{request_length})");
    is($f->{referer}, 'http://ref.example/', 'referer');
    is($f->{user_agent}, 'moongate-test', 'user_agent');
    is($f->{host}, 'localhost', 'host');
    is($f->{scheme}, 'http', 'scheme');
    is($f->{route}, 'two-tries', 'route');
    is($f->{consumer}, '-', 'consumer: none');
    is($f->{request_id}, 'req-shaped-1', 'request_id');
    is($f->{trace_id}, '-', 'trace_id: not traced');
    is($f->{upstream_addr}, "127.0.0.1:$dead, 127.0.0.1:$echo", 'upstream_addr: both tries');
    is($f->{upstream_status}, '502, 200', 'upstream_status: a refused try is a 502');
    like($f->{upstream_connect_time}, qr/^-, \d+\.\d{3}$/, 'upstream_connect_time per try');
    like($f->{upstream_header_time}, qr/^-, \d+\.\d{3}$/, 'upstream_header_time per try');
    like($f->{upstream_response_time}, qr/^\d+\.\d{3}, \d+\.\d{3}$/,
         'upstream_response_time per try');
    like($f->{upstream_time}, qr/^\d+\.\d{3}$/, 'upstream_time: one total');
    like($f->{upstream_tries},
         qr{^127\.0\.0\.1:$dead - -/-/\d+\.\d{3} \(connect failed\), 127\.0\.0\.1:$echo 200 \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}$},
         'upstream_tries: compact text, the error of the first');
    like($f->{request_time}, qr/^\d+\.\d{3}$/, 'request_time');
    for my $p (qw(rewrite access balancer header_filter body_filter log)) {
        is($f->{"plugin_${p}_time"}, '-', "plugin_${p}_time: no plugin");
    }
    is($f->{$_}, '-', "$_: plain HTTP") for qw(tls_version tls_cipher tls_sni);
}



=== TEST 2: every JSON field, for a request proxied in two tries
--- yaml_config eval
<<"EOF" . "  format: [" . main::every_field_list() . "]\n"
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:\$MG_RAND_PORT_1", weight: 1000 }
      - { address: "127.0.0.1:\$MG_ECHO_PORT" }
    retries: 1
routes:
  - { name: two-tries, paths: ["/*"], upstream: pool }
access_log:
  path: logs/access.log
  buffer: 0
EOF
--- request
GET /hello?x=1
--- more_headers
X-Request-Id: req-fields-1
User-Agent: moongate-test
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr/"request_id":"req-fields-1"/) // '{}';
    my $j = eval { JSON::PP::decode_json($line) } || {};
    ok(scalar keys %$j, 'one JSON object per line') or diag("$@: $line");
    is_deeply([main::top_keys($line)], \@main::VARS, 'exactly the listed keys, in order');
    my ($dead, $echo) = ($t->fill('$MG_RAND_PORT_1'), $t->echo_port);
    like($j->{time}, qr/^\d{4}-\d\d-\d\dT/, 'time');
    like($line, qr/"msec":\d{10}\.\d{3},/, 'msec: a number');
    like($line, qr/"remote_port":\d+,/, 'remote_port: a number');
    like($line, qr/"status":200,"bytes_sent":\d+,"body_bytes_sent":12,"request_length":\d+,/,
         'status and sizes: numbers');
    is($j->{request}, 'GET /hello?x=1 HTTP/1.1', 'request');
    is($j->{referer}, undef, 'referer: null when absent');
    like($line, qr/"referer":null,/, 'null, not ""');
    is($j->{consumer}, undef, 'consumer: null');
    is($j->{trace_id}, undef, 'trace_id: null');
    is_deeply($j->{upstream_addr}, ["127.0.0.1:$dead", "127.0.0.1:$echo"], 'upstream_addr: an array');
    like($line, qr/"upstream_status":\[502,200\]/, 'upstream_status: numbers');
    like($line, qr/"upstream_connect_time":\[null,\d+\.\d{3}\]/, 'upstream_connect_time');
    like($line, qr/"upstream_header_time":\[null,\d+\.\d{3}\]/, 'upstream_header_time');
    like($line, qr/"upstream_response_time":\[\d+\.\d{3},\d+\.\d{3}\]/, 'upstream_response_time');
    like($line, qr/"upstream_time":\d+\.\d{3},/, 'upstream_time: a number');
    my $tries = $j->{upstream_tries} // [];
    is(scalar @$tries, 2, 'two tries');
    is_deeply([sort keys %{ $tries->[0] // {} }],
              [qw(addr connect_time error header_time status time)], 'a try\'s keys');
    is($tries->[0]{addr}, "127.0.0.1:$dead", 'first try: the dead node');
    is($tries->[0]{status}, undef, 'first try: no status');
    is($tries->[0]{error}, 'connect failed', 'first try: why');
    is($tries->[1]{status}, 200, 'second try: 200');
    is($tries->[1]{error}, undef, 'second try: no error');
    ok(defined $tries->[1]{header_time} && $tries->[1]{header_time} <= $tries->[1]{time},
       'second try: header time <= time');
    like($line, qr/"plugin_rewrite_time":null,/, 'plugin times: null without plugins');
    like($line, qr/"tls_version":null,"tls_cipher":null,"tls_sni":null,/, 'TLS: null');
    like($line, qr/"peer_addr":"127\.0\.0\.1","peer_port":\d+\}$/, 'the peer: an address and a port');
}



=== TEST 3: a return: route has no upstream: "-" in a template, null in JSON
--- yaml_config
access_log:
  path: logs/access.log
  buffer: 0
  format: 'ret $status $body_bytes_sent $route [$upstream_addr] [$upstream_status] [$upstream_tries] [$upstream_time] [$upstream_response_time] ${request_id}!'
routes:
  - { name: direct, paths: ["/hello"], return: { status: 201, body: "hello\n" } }
--- request
GET /hello
--- more_headers
X-Request-Id: req-return-1
--- error_code: 201
--- test_code eval
sub {
    my $t = shift;
    is(main::wait_line($t, qr/req-return-1/), 'ret 201 6 direct [-] [-] [-] [-] [-] req-return-1!',
       'no upstream: "-" for each upstream variable');
}



=== TEST 4: the consumer a plugin names (key-auth), in a template and in JSON fields
--- yaml_config
access_log: { path: logs/access.log, buffer: 0, format: '$consumer $status $request_id' }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- raw_request eval
["GET /api/x HTTP/1.1\r\nHost: localhost\r\napikey: alice-secret-1\r\nX-Request-Id: req-alice\r\n\r\n",
 "GET /api/x HTTP/1.1\r\nHost: localhost\r\napikey: wrong\r\nX-Request-Id: req-nobody\r\n\r\n"]
--- error_code eval
[200, 401]
--- test_code eval
sub {
    my $t = shift;
    is(main::wait_line($t, qr/req-alice/), 'alice 200 req-alice', 'the consumer key-auth named');
    is(main::wait_line($t, qr/req-nobody/), '- 401 req-nobody', 'no consumer: "-"');
}



=== TEST 5: the TLS variables over a TLS listener
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
access_log: { path: logs/access.log, buffer: 0, format: [uri, scheme, tls_version, tls_cipher, tls_sni] }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    require Test::Moongate::TLS;
    my $why = Test::Moongate::TLS::have_curl();
    if ($why) { pass("skipped: $why"); return }
    my $r = Test::Moongate::TLS::curl_https(port => $t->fill('$MG_RAND_PORT_1'),
                                            host => 'api.example.com', path => '/over-tls',
                                            cacert => $t->servroot . '/certs/root.crt');
    is($r->{status}, 200, 'answered over TLS');
    my $j = eval { JSON::PP::decode_json(main::wait_line($t, qr{/over-tls}) // '') } || {};
    is($j->{scheme}, 'https', 'scheme');
    like($j->{tls_version} // '', qr/^TLSv1\.[23]$/, 'tls_version');
    ok(length($j->{tls_cipher} // ''), "tls_cipher ($j->{tls_cipher})");
    is($j->{tls_sni}, 'api.example.com', 'tls_sni');
}



=== TEST 6: a reload switches the format in place
--- yaml_config
access_log: { path: logs/access.log, buffer: 0, format: combined }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- request eval
["GET /before", "GET /after"]
--- reload_after: 1
--- reload_yaml_config
access_log: { path: logs/access.log, buffer: 0, format: 'shaped $uri $status' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $t = shift;
    like(main::wait_line($t, qr{/before}), qr{^127\.0\.0\.1 - - \[.*"GET /before HTTP/1\.1" 200 },
         'combined before the reload');
    is(main::wait_line($t, qr{/after}), 'shaped /after 200', 'the template after it');
}



=== TEST 7: an unknown variable stops the start at its line and column, naming the known ones
--- yaml_config
access_log:
  format: '$remote_addr [$time_local] $nope'
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:39: access_log\.format: unknown variable "\$nope"; the variables are: time time_iso8601 .* tls_sni}]



=== TEST 8: moongate -t finds it too, and a bad field list at its item
--- yaml_config
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- user_files
>>> conf/bad.yaml
access_log:
  path: logs/access.log
  format: '${remote_addr} ${statuss}'
>>> conf/bad-fields.yaml
access_log:
  format:
    - time
    - status
    - upstreams
>>> conf/good.yaml
access_log: { syslog: "udp:127.0.0.1:9", format: [time, status, upstream_tries] }
--- test_code eval
sub {
    my $t = shift;
    my ($bin, $root) = ($t->bin, $t->servroot);
    my $out = `$bin -t -p $root -c $root/conf/bad.yaml 2>&1`;
    isnt($? >> 8, 0, '-t fails');
    like($out, qr{conf/bad\.yaml:3:27: access_log\.format: unknown variable "\$statuss"},
         "-t: file:line:column of the variable ($out)");
    $out = `$bin -t -p $root -c $root/conf/bad-fields.yaml 2>&1`;
    like($out, qr{conf/bad-fields\.yaml:5:7: access_log\.format\[2\]: unknown field "upstreams"},
         "-t: the item of the list ($out)");
    $out = `$bin -t -p $root -c $root/conf/good.yaml 2>&1`;
    is($? >> 8, 0, "-t accepts a syslog target and a field list ($out)");
}
