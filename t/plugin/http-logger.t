# http-logger: entries batched to an HTTP endpoint (a receiver of the block's own that
# records every request it gets), the fields of an entry, the flush of a partial batch
# after flush_interval, an endpoint that is down or failing, max_pending, a reload and
# a stop that send what is left, and the configuration errors.
use Test::Moongate;
use Test::Moongate::Client;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

use Test::Moongate::Receiver;

# The entries of a post: a JSON array, or one object per line.
sub entries {
    my ($post) = @_;
    my $b = $post->{body};
    return @{ JSON::PP::decode_json($b) } if $b =~ /^\[/;
    return map { JSON::PP::decode_json($_) } grep { length } split /\n/, $b;
}

sub receiver {
    my ($t, %o) = @_;
    return Test::Moongate::Receiver->new($t->fill('$MG_RAND_PORT_1'), $t->servroot . '/received', %o);
}

# get($t, $n, $uri) -> the statuses of $n requests, one after the other
sub get {
    my ($t, $n, $uri, @h) = @_;
    return map { my $r = $t->request($uri // "GET /x", \@h); $r ? $r->{status} : 'none' } 1 .. $n;
}

sub wait_log {
    my ($t, $re, $secs) = @_;
    my $end = Time::HiRes::time() + ($secs // 3);
    while (1) {
        my @m = $t->error_log =~ $re;
        return @m if @m;
        return () if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.02);
    }
}

run_tests();

__DATA__

=== TEST 1: N requests with batch_size B make ceil(N/B) posts: the full ones at once, the rest after flush_interval
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", batch_size: 5, flush_interval: 1 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t);
    my @ids;
    for my $i (1 .. 12) {
        my $r = $t->request("GET /x/$i");
        push @ids, $r->{headers}{'x-request-id'};
    }
    my $sent = Time::HiRes::time();
    my @p = $rcv->wait_posts(2, 3);
    is(scalar @p, 2, 'two full batches came at once');
    ok($p[1]{time} - $sent < 0.8, 'well before flush_interval') if @p == 2;
    @p = $rcv->wait_posts(3, 3);
    is(scalar @p, 3, 'the partial one came after flush_interval');
    my $late = @p == 3 ? $p[2]{time} - $sent : -1;
    ok($late > 0.5 && $late < 2, "about flush_interval after the traffic ($late s)");
    is_deeply([map { scalar main::entries($_) } @p], [5, 5, 2], 'batches of 5, 5 and 2');
    is_deeply([map { $_->{request_id} } map { main::entries($_) } @p], \@ids,
              'every request once, in order');
    is($p[0]{method}, 'POST', 'POST');
    is($p[0]{path}, '/logs', 'to the endpoint path');
    is($p[0]{headers}{'content-type'}, 'application/json', 'a JSON array');
    Time::HiRes::sleep(1.2);
    is(scalar $rcv->posts, 3, 'nothing more');
    $t->stop;
}
--- no_error_log
[error]
[warn]



=== TEST 2: an entry carries what the log phase knows: request, route, consumer, upstream, latencies, bytes
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials: { key-auth: { key: "alice-secret-1" } }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
      http-logger:
        endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/bulk"
        batch_size: 2
        format: json_lines
        headers: { Authorization: "Bearer s3cret", X-Source: gw }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t);
    my $ok = $t->request("POST /api/things?q=1\nhello", ['apikey: alice-secret-1', 'User-Agent: tester/1.0']);
    my $no = $t->request("GET /api/other", []);
    is($no->{status}, 401, 'the second request is refused by key-auth');
    my @p = $rcv->wait_posts(1, 3);
    is(scalar @p, 1, 'one post') or return;
    is($p[0]{headers}{'content-type'}, 'application/x-ndjson', 'JSON lines');
    is($p[0]{headers}{authorization}, 'Bearer s3cret', 'the configured headers');
    is($p[0]{headers}{'x-source'}, 'gw', 'all of them');
    like($p[0]{body}, qr/\A\{.*\}\n\{.*\}\n\z/, 'one entry per line');
    my ($a, $b) = main::entries($p[0]);
    is($a->{request_id}, $ok->{headers}{'x-request-id'}, 'request_id');
    is($a->{method}, 'POST', 'method');
    is($a->{uri}, '/api/things?q=1', 'uri');
    is($a->{host}, 'localhost', 'host');
    is($a->{scheme}, 'http', 'scheme');
    is($a->{status}, 200, 'status');
    is($a->{route}, 'api', 'route');
    is($a->{consumer}, 'alice', 'consumer');
    is($a->{client_addr}, '127.0.0.1', 'client_addr');
    like($a->{client_port}, qr/^\d+$/, 'client_port');
    is($a->{user_agent}, 'tester/1.0', 'user_agent');
    is($a->{request_length}, 5, 'request_length');
    is($a->{upstream}, 'echo', 'upstream');
    like($a->{upstream_addr}, qr/^127\.0\.0\.1:\d+$/, 'upstream_addr');
    is($a->{upstream_status}, 200, 'upstream_status');
    like($a->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'time, ISO 8601');
    ok(abs($a->{start_time} - time) < 60, 'start_time, epoch seconds');
    for my $k (qw(request_time upstream_time upstream_connect_time upstream_header_time)) {
        ok(defined $a->{$k} && $a->{$k} >= 0 && $a->{$k} < 5, "$k ($a->{$k})");
    }
    ok($a->{bytes_sent} > 100, "bytes_sent ($a->{bytes_sent})");
    ok(!exists $a->{tls}, 'no tls over plain HTTP');
    is($b->{status}, 401, 'the refused request is logged too');
    ok(!exists $b->{consumer} && !exists $b->{upstream_status}, 'without what it did not reach');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 3: fields picks the entry's fields and their order
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 204 }
    plugins:
      http-logger:
        endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/"
        batch_size: 1
        fields: [status, uri, request_id]
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t);
    my $r = $t->request("GET /only");
    my @p = $rcv->wait_posts(1, 3);
    my $id = $r->{headers}{'x-request-id'};
    is($p[0] && $p[0]{body}, qq([{"status":204,"uri":"/only","request_id":"$id"}]), 'just those, in order');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 4: over TLS an entry says what the connection negotiated, the client certificate too
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
alice client issuer=root cn=alice
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_2", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key, client_ca: certs/root.crt, client_verify: optional }
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", batch_size: 2 }
--- test_code eval
sub {
    my $t = shift;
    require Test::Moongate::TLS;
    my $rcv = main::receiver($t);
    my $d = $t->servroot . '/certs';
    for my $args ([], ['--cert', "$d/alice.crt", '--key', "$d/alice.key"]) {
        my $r = Test::Moongate::TLS::curl_https(port => $t->fill('$MG_RAND_PORT_2'),
            host => 'api.example.com', cacert => "$d/root.crt", path => '/tls', args => $args);
        is($r->{status}, 200, 'answered over TLS');
    }
    my @p = $rcv->wait_posts(1, 3);
    my ($a, $b) = @p ? main::entries($p[0]) : ();
    is($a && $a->{scheme}, 'https', 'scheme');
    like($a && $a->{tls}{version}, qr/^TLSv1\.[23]$/, 'tls.version');
    ok($a && $a->{tls}{cipher}, 'tls.cipher');
    is($a && $a->{tls}{sni}, 'api.example.com', 'tls.sni');
    is($a && $a->{tls}{client_verify}, 'NONE', 'no client certificate');
    is($b && $b->{tls}{client_verify}, 'SUCCESS', 'a verified one');
    like($b && $b->{tls}{client_subject}, qr/CN=alice/, 'its subject');
    like($b && $b->{tls}{client_fingerprint}, qr/^[0-9a-f]{64}$/, 'its fingerprint');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 5: an endpoint that is down costs clients nothing; each batch is tried max_retries + 1 times, then dropped and counted
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", batch_size: 10, max_retries: 2, retry_delay: 0.1, timeout: 500 }
--- test_code eval
sub {
    my $t = shift;
    my $t0 = Time::HiRes::time();
    my @st = main::get($t, 20);
    my $took = Time::HiRes::time() - $t0;
    is_deeply(\@st, [(200) x 20], 'every request answered');
    ok($took < 2, "quickly ($took s for 20)");
    my @m = main::wait_log($t, qr/(http-logger: \S+: a batch of 10 entries dropped after 3 tries: connection refused; so far sent 0 in 0 batches, dropped 20 unsent and 0 over max_pending)/, 5);
    ok(@m, 'both batches dropped after 3 tries, counted');
    is(() = $t->error_log =~ /a batch of 10 entries dropped after 3 tries/g, 2, 'two batches logged');
}
--- error_log
dropped after 3 tries: connection refused
--- no_error_log
[crit]



=== TEST 6: a failing endpoint: retried with a delay, then it takes the batch, once
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", batch_size: 3, retry_delay: 0.2 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t, fail => 2);
    main::get($t, 3);
    my @p = $rcv->wait_posts(3, 5);
    is_deeply([map { $_->{status} } @p], [500, 500, 200], 'two 500s, then taken');
    ok(@p == 3 && $p[1]{time} - $p[0]{time} >= 0.18, 'the first retry waited retry_delay');
    ok(@p == 3 && $p[2]{time} - $p[1]{time} >= 0.38, 'the second twice as long');
    is($p[2]{body}, $p[0]{body}, 'the same batch');
    $t->stop;
    like($t->error_log, qr/\[warn\] .*http-logger: \S+: try 1 of 4 failed: status 500; again in 0\.2 s/,
         'the first failed try is logged');
    like($t->error_log, qr/\[warn\] .*http-logger: \S+: try 2 of 4 failed: status 500; again in 0\.4 s/,
         'and the second');
}
--- no_error_log
[error]



=== TEST 7: after a dropped batch, the first one taken again is noted
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", batch_size: 1, max_retries: 0 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t, fail => 1);
    main::get($t, 1, "GET /first");
    ok(main::wait_log($t, qr/(\[error\] .*a batch of 1 entries dropped after 1 try: status 500; so far sent 0 in 0 batches, dropped 1 unsent)/),
       'the batch is dropped after its one try');
    main::get($t, 1, "GET /second");
    ok(main::wait_log($t, qr/(\[notice\] .*http-logger: \S+ takes batches again)/), 'the recovery is noted');
    my @p = $rcv->wait_posts(2, 3);
    is_deeply([map { $_->{status} } @p], [500, 200], 'one try each');
    $t->stop;
}
--- error_log
dropped after 1 try



=== TEST 8: past max_pending new entries are dropped, counted, warned about once and summed up at the end
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", batch_size: 10, max_pending: 10, flush_interval: 30 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t, delay => 2);
    my @st = main::get($t, 25);
    is_deeply(\@st, [(200) x 25], 'every request answered');
    my @p = $rcv->wait_posts(1, 3);
    is(scalar(main::entries($p[0])), 10, 'the first 10 entries sent') if @p;
    is(() = $t->error_log =~ /new entries dropped/g, 1, 'one warning while it lasts');
    like($t->error_log, qr/\[warn\] .*http-logger: \S+: max_pending \(10\) reached, 1 new entries dropped; so far sent 0 in 0 batches, dropped 0 unsent and 1 over max_pending/,
         'the first drop is warned about at once');
    $t->stop;
    like($t->error_log, qr/\[warn\] .*http-logger: \S+: max_pending \(10\) reached, 14 new entries dropped; so far sent 10 in 1 batches, dropped 0 unsent and 15 over max_pending/,
         'the rest is summed up when the configuration retires');
    like($t->error_log, qr/\[info\] .*http-logger: \S+: configuration retired, sent 10 in 1 batches, dropped 0 unsent and 15 over max_pending/,
         'with the totals');
    is(scalar $rcv->posts, 1, 'nothing else was sent');
}
--- no_error_log
[error]



=== TEST 9: a reload retires the old generation's timer: its partial batch goes at once, the old generation ends
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", flush_interval: 30 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t);
    main::get($t, 3, "GET /old");
    Time::HiRes::sleep(0.3);
    is(scalar $rcv->posts, 0, 'nothing sent yet: the batch is not full, flush_interval is far');
    is($t->status->{lua_timers}{pending}, 1, 'one timer pending');
    my $yaml = $t->{yaml_src};
    $yaml =~ s/flush_interval: 30/flush_interval: 0.2/;
    my $t0 = Time::HiRes::time();
    is($t->reload($yaml), '', 'reloaded');
    my @p = $rcv->wait_posts(1, 3);
    is(scalar @p, 1, 'the old batch was sent');
    ok(@p && $p[0]{time} - $t0 < 2, 'at the reload, not after flush_interval');
    is_deeply([map { $_->{uri} } main::entries($p[0])], ['/old', '/old', '/old'], 'the three entries')
        if @p;
    main::get($t, 2, "GET /new");
    @p = $rcv->wait_posts(2, 3);
    is_deeply([map { $_->{uri} } main::entries($p[1])], ['/new', '/new'], 'the new generation logs on')
        if @p == 2;
    my $st;
    for (1 .. 40) {
        $st = $t->status;
        last if $st->{workers}[0]{generations_alive} == 1;
        Time::HiRes::sleep(0.05);
    }
    is($st->{workers}[0]{generations_alive}, 1, 'the old generation is gone');
    is($st->{lua_timers}{pending} + $st->{lua_timers}{running}, 0, 'no timer left');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 10: a graceful stop sends what waits
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/logs", flush_interval: 60 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t);
    main::get($t, 4);
    $t->stop;
    my @p = $rcv->posts;
    is(scalar @p, 1, 'one post at the stop');
    is(scalar(main::entries($p[0])), 4, 'with every entry') if @p;
}
--- no_error_log
[error]



=== TEST 11: every use of the plugin has its own queue; global_plugins is one use
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/a", batch_size: 2 }
  - name: b
    paths: ["/b"]
    return: { status: 200 }
  - name: c
    paths: ["/c"]
    return: { status: 200 }
global_plugins:
  http-logger: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/all", batch_size: 2 }
--- test_code eval
sub {
    my $t = shift;
    my $rcv = main::receiver($t);
    main::get($t, 2, "GET /a");
    main::get($t, 1, "GET /b");
    main::get($t, 1, "GET /c");
    my @p = $rcv->wait_posts(2, 3);
    my %by = map { $_->{path} => [map { $_->{route} } main::entries($_)] } @p;
    is_deeply(\%by, { '/a' => ['a', 'a'], '/all' => ['b', 'c'] }, 'two queues');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 12: a bad endpoint is refused at load, with its position
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      http-logger: { endpoint: "ftp://logs.example.com/in" }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:32: routes\[0\]\.plugins\.http-logger\.endpoint: does not match pattern "\^https\?://\[\^/%s\]\+\[\^%s\]\*\$", got "ftp://logs\.example\.com/in"}]



=== TEST 13: max_pending below batch_size is refused
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:9/", batch_size: 50, max_pending: 10 }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:20: routes\[0\]\.plugins\.http-logger: max_pending \(10\) must be at least batch_size \(50\)}]



=== TEST 14: an unknown field name is refused
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      http-logger: { endpoint: "http://127.0.0.1:9/", fields: [status, latency] }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.http-logger\.fields\[1\]: expected one of "time", .*, got "latency"}]



=== TEST 15: the endpoint is required
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      http-logger: { batch_size: 10 }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:20: routes\[0\]\.plugins\.http-logger: missing required key "endpoint"}]
