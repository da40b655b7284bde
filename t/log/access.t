# Access-log lines: both formats carry the route, the upstream address, the upstream
# and total times and the request id; `access_log: off` writes nothing.
use Test::Moongate;
use JSON::PP ();
use Time::HiRes ();

# The access log once it holds a line matching $re (workers write asynchronously).
sub wait_line {
    my ($t, $re) = @_;
    my $end = Time::HiRes::time() + 2;
    while (1) {
        my ($line) = grep { $_ =~ $re } split /\n/, $t->access_log;
        return $line if defined $line || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

run_tests();

__DATA__

=== TEST 1: combined format with the moongate fields
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: echo-route, paths: ["/*"], upstream: echo }
--- request
GET /logged?x=1
--- more_headers
X-Request-Id: req-combined-1
User-Agent: moongate-test
Referer: http://ref.example/
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr/req-combined-1/);
    my $port = $t->echo_port;
    like($line // '', qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /logged\?x=1 HTTP/1\.1" 200 \d+ "http://ref\.example/" "moongate-test" "echo-route" "127\.0\.0\.1:$port" \d+\.\d{3} \d+\.\d{3} "req-combined-1"$},
         'combined line');
}



=== TEST 2: json format with the moongate fields
--- yaml_config
access_log: { path: logs/access.log, format: json, buffer: 0 }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: echo-route, paths: ["/*"], upstream: echo }
--- request
GET /delay/50
--- more_headers
X-Request-Id: req-json-1
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr/req-json-1/) // '{}';
    my $j = eval { JSON::PP::decode_json($line) } // {};
    is($j->{route}, 'echo-route', 'route');
    is($j->{upstream_addr}, '127.0.0.1:' . $t->echo_port, 'upstream_addr');
    is($j->{status}, 200, 'status');
    is($j->{upstream_status}, 200, 'upstream_status');
    is($j->{request_id}, 'req-json-1', 'request_id');
    is($j->{method}, 'GET', 'method');
    is($j->{uri}, '/delay/50', 'uri');
    ok(($j->{upstream_time} // 0) >= 0.04, "upstream_time ($j->{upstream_time})");
    ok(($j->{request_time} // 0) >= ($j->{upstream_time} // 1), 'request_time >= upstream_time');
}



=== TEST 3: a generated request id and an unmatched request are logged too
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
routes: []
--- request
GET /nowhere
--- error_code: 404
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr{/nowhere});
    like($line // '', qr{" 404 \d+ "-" "-" "-" "-" - \d+\.\d{3} "[A-Za-z0-9._:-]+"$},
         'empty fields are "-", upstream time "-", an id is generated');
}



=== TEST 4: access_log: off writes nothing
--- yaml_config
access_log: off
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- request eval
["GET /hello", "GET /hello"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.2);
    is(-s $t->access_log_file // 0, 0, 'no access log written');
}



=== TEST 5: the buffered access log is flushed at a graceful stop
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 64k }
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- request
GET /hello?flushed
--- test_code eval
sub {
    my $t = shift;
    kill 'QUIT', $t->pid;
    $t->wait_exit(5);
    like($t->access_log, qr{GET /hello\?flushed}, 'line written at exit');
}
