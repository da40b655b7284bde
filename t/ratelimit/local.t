# Local rate limits through real requests: each algorithm's answers and headers, keys,
# limits exact across workers, concurrency slots given back, delays, zone eviction.
use Test::Moongate;
use Test::Moongate::Client;
use JSON::PP ();
use Time::HiRes ();

sub get { Test::Moongate::Client::request($_[0]->port, $_[1], $_[2] // [], 5) }

sub admin_status {
    my $t = shift;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /status", [], 5);
    return JSON::PP::decode_json($r->{body});
}

# Statuses of `get` for each [uri, headers] pair, in order.
sub statuses {
    my ($t, @reqs) = @_;
    return join ' ', map { my $r = get($t, $_->[0], $_->[1]); $r ? $r->{status} : 'none' } @reqs;
}

# Sends a request without reading the answer: the socket, to read or drop later.
sub send_only {
    my ($t, $spec, $hdr) = @_;
    my $s = Test::Moongate::Client::connect_to($t->port, 5) or die "connect: $!\n";
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build($spec, $hdr // []));
    return $s;
}

sub read_on {
    my ($s) = @_;
    my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                 'GET');
    close $s;
    return $r;
}

run_tests();

__DATA__

=== TEST 1: fixed_window: exactly the limit passes, then 429 with Retry-After and RateLimit-*
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 3/m }
--- request eval
["GET /a", "GET /a", "GET /a", "GET /a"]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["!RateLimit-Limit", "!RateLimit-Limit", "!RateLimit-Limit",
 "RateLimit-Limit: 3\nRateLimit-Remaining: 0\nContent-Type: application/json"]
--- response_headers_like eval
["", "", "", "Retry-After: [1-9][0-9]*\nRateLimit-Reset: [1-9][0-9]*"]
--- response_body_like eval
[".*", ".*", ".*", qr/"error":"rate limit exceeded","status":429/]
--- access_log eval
[qr/"GET \/a HTTP\/1.1" 429/]



=== TEST 2: token_bucket: the burst passes at once, then one per refill; Retry-After is the refill time
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: token_bucket, rate: 1/m, burst: 2 }
--- request eval
["GET /a", "GET /a", "GET /a"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["", "", "RateLimit-Limit: 2\nRateLimit-Remaining: 0"]
--- response_headers_like eval
["", "", "Retry-After: (59|60)\nRateLimit-Reset: 1[12][0-9]"]



=== TEST 3: token_bucket refills at the rate
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: token_bucket, rate: 5/s, burst: 1 }
--- request
GET /a
--- test_code eval
sub {
    my $t = shift;
    is(main::get($t, "GET /a")->{status}, 429, 'the bucket of 1 was used by the first request');
    # one token comes back after 200 ms: poll for it, but not before 100 ms
    my $t0 = Time::HiRes::time();
    my $st;
    do { Time::HiRes::sleep(0.02); $st = main::get($t, "GET /a")->{status} }
        while ($st == 429 && Time::HiRes::time() - $t0 < 3);
    my $dt = Time::HiRes::time() - $t0;
    is($st, 200, 'a token came back');
    ok($dt >= 0.1, "not before its time ($dt s)");
}



=== TEST 4: leaky_bucket without delay: rate plus the burst passes, the rest is rejected
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: leaky_bucket, rate: 1/m, burst: 1 }
--- request eval
["GET /a", "GET /a", "GET /a"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["", "", "RateLimit-Limit: 2\nRateLimit-Remaining: 0\nRetry-After: 60"]



=== TEST 5: sliding_window: the limit within the window
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: sliding_window, rate: 2/h, status: 503 }
--- request eval
["GET /a", "GET /a", "GET /a"]
--- error_code eval
[200, 200, 503]
--- response_headers eval
["", "", "RateLimit-Limit: 2\nRateLimit-Remaining: 0"]
--- response_body_like eval
[".*", ".*", qr/"status":503/]



=== TEST 6: exact across two workers: 40 requests on new connections, exactly 20 pass
--- yaml_config
worker_processes: 2
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 20/h }
--- request
GET /warm
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    # 4 clients in parallel, 10 requests each, each on its own connection
    my @kids;
    for my $k (1 .. 4) {
        pipe(my $rd, my $wr) or die;
        my $pid = fork();
        if ($pid == 0) {
            close $rd;
            my $out = '';
            $out .= main::get($t, "GET /x")->{status} . "\n" for 1 .. 10;
            print $wr $out;
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my %n;
    for my $k (@kids) {
        my $fh = $k->[1];
        $n{$_}++ for map { s/\s+\z//r } <$fh>;
        waitpid($k->[0], 0);
    }
    # the warm-up request counted too: 19 of the 40 pass
    is($n{200} // 0, 19, 'exactly the limit passed');
    is($n{429} // 0, 21, 'the rest was rejected');
    my %pids;
    my $s = main::admin_status($t);
    ok($_->{requests} > 0, "worker $_->{pid} served some") for @{ $s->{workers} };
}



=== TEST 7: header key: one bucket per value; a missing header passes (missing_key: allow)
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "header:X-User" }
--- request
GET /a
--- test_code eval
sub {
    my $t = shift;
    is(main::statuses($t, ["GET /a", ["X-User: ann"]], ["GET /a", ["x-user: ann"]],
                       ["GET /a", ["X-User: bob"]], ["GET /a", []], ["GET /a", []]),
       "200 429 200 200 200", 'per header value; no header: not limited');
}



=== TEST 8: missing_key: reject answers the limiter's status without Retry-After
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 5/h, key: "query:token", missing_key: reject, status: 403 }
--- request eval
["GET /a?token=1", "GET /a", "GET /a?other=1&token=", "GET /a?x=2&token=2"]
--- error_code eval
[200, 403, 403, 200]
--- response_headers eval
["", "!Retry-After", "!Retry-After", ""]
--- response_body_like eval
[".*", qr/rate limit key missing/, ".*", ".*"]



=== TEST 9: query, cookie and combined keys
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: q
    paths: ["/q"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "query:k" }
  - name: c
    paths: ["/c"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "cookie:sid" }
  - name: m
    paths: ["/m"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "remote_addr+header:X-Team+route" }
--- request
GET /q?k=0
--- test_code eval
sub {
    my $t = shift;
    is(main::statuses($t, ["GET /q?k=1"], ["GET /q?a=b&k=1"], ["GET /q?k=2"]), "200 429 200",
       'query key');
    is(main::statuses($t, ["GET /c", ["Cookie: a=1; sid=abc"]], ["GET /c", ["Cookie: sid=abc"]],
                       ["GET /c", ["Cookie: sid=xyz; b=2"]]), "200 429 200", 'cookie key');
    is(main::statuses($t, ["GET /m", ["X-Team: red"]], ["GET /m", ["X-Team: red"]],
                       ["GET /m", ["X-Team: blue"]], ["GET /m"]), "200 429 200 200",
       'combined key; a missing part means no key');
}



=== TEST 10: routes that name the same limiter share its state; route keys keep them apart
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: a
    paths: ["/a"]
    upstream: echo
    rate_limit:
      - { name: shared, algorithm: fixed_window, rate: 2/h }
      - { name: per-route, algorithm: fixed_window, rate: 1/h, key: route }
  - name: b
    paths: ["/b"]
    upstream: echo
    rate_limit:
      - { name: shared, algorithm: fixed_window, rate: 2/h }
      - { name: per-route, algorithm: fixed_window, rate: 1/h, key: route }
--- request eval
["GET /a", "GET /b", "GET /a", "GET /b"]
--- error_code eval
[200, 200, 429, 429]



=== TEST 11: headers: true puts the most restrictive limit's figures on allowed responses
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 10/h, headers: true }
      - { algorithm: token_bucket, rate: 3/h, headers: true }
  - name: quiet
    paths: ["/quiet"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 10/h }
--- request eval
["GET /a", "GET /a", "GET /quiet"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["RateLimit-Limit: 3\nRateLimit-Remaining: 2", "RateLimit-Limit: 3\nRateLimit-Remaining: 1",
 "!RateLimit-Limit"]
--- response_headers_like eval
["RateLimit-Reset: [1-9][0-9]*", "", ""]



=== TEST 12: concurrency: a slot per request in flight, given back when the response ends
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: concurrency, limit: 1 }
--- request
GET /hello
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $s = main::send_only($t, "GET /delay/400");
    Time::HiRes::sleep(0.15);
    my $r = main::get($t, "GET /hello");
    is($r->{status}, 429, 'a second request in flight is refused');
    is($r->{headers}{'ratelimit-limit'}, '1', 'RateLimit-Limit');
    is(main::read_on($s)->{status}, 200, 'the first one completes');
    is(main::get($t, "GET /hello")->{status}, 200, 'its slot came back');
}



=== TEST 13: concurrency slots come back after upstream errors and client aborts
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: dead, nodes: ["127.0.0.1:$MG_RAND_PORT_1"], retries: 0 }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: slots, algorithm: concurrency, limit: 2, key: "header:X-Key" }
  - name: broken
    paths: ["/broken"]
    upstream: dead
    rate_limit:
      - { name: slots, algorithm: concurrency, limit: 2, key: "header:X-Key" }
--- request
GET /hello
--- test_code eval
sub {
    my $t = shift;
    my @k = ("X-Key: k");
    is(main::statuses($t, map { ["GET /broken", \@k] } 1 .. 4), "502 502 502 502",
       'upstream failures give their slot back');
    # clients that leave while the upstream is still answering
    for (1 .. 4) {
        my $s = main::send_only($t, "GET /delay/300", \@k);
        Time::HiRes::sleep(0.05);
        close $s;
    }
    # once the gateway has seen them go, both slots are free again: two at once pass
    my $ok = 0;
    my $end = Time::HiRes::time() + 4;
    while (!$ok && Time::HiRes::time() < $end) {
        my $a = main::send_only($t, "GET /delay/200", \@k);
        my $b = main::send_only($t, "GET /delay/200", \@k);
        my ($ra, $rb) = (main::read_on($a), main::read_on($b));
        $ok = $ra->{status} == 200 && $rb->{status} == 200;
        Time::HiRes::sleep(0.1) unless $ok;
    }
    ok($ok, 'the count is back to zero: two concurrent requests pass');
    my $s1 = main::send_only($t, "GET /delay/300", \@k);
    my $s2 = main::send_only($t, "GET /delay/300", \@k);
    Time::HiRes::sleep(0.1);
    is(main::get($t, "GET /hello", \@k)->{status}, 429, 'and the limit still holds');
    main::read_on($_) for $s1, $s2;
}



=== TEST 14: leaky_bucket with delay: requests within the burst wait for their slot
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: leaky_bucket, rate: 5/s, burst: 3, delay: true }
--- request
POST /warm
body
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.3); # the warm-up request drained
    my $t0 = Time::HiRes::time();
    my @s = map { main::send_only($t, "POST /d\nbody-$_") } 1 .. 5;
    my @r = map { main::read_on($_) } @s;
    my $dt = Time::HiRes::time() - $t0;
    my @st = sort map { $_->{status} } @r;
    is("@st", "200 200 200 200 429", 'the first plus the burst pass, the fifth is refused');
    ok($dt >= 0.5, "the third in the queue waited its 0.6 s ($dt s)");
    ok($dt < 2.5, "but not much longer ($dt s)");
    my @bodies = sort map { JSON::PP::decode_json($_->{body})->{body} }
        grep { $_->{status} == 200 } @r;
    like("@bodies", qr/^body-\d body-\d body-\d body-\d$/, 'bodies held during the wait arrive');
}



=== TEST 15: a tiny zone evicts its least recently used keys and counts them in /status
--- yaml_config
rate_limit_zones: { tiny: 32k }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "header:X-K", zone: tiny }
--- request
GET /a
--- test_code eval
sub {
    my $t = shift;
    my $s = Test::Moongate::Client::connect_to($t->port, 5);
    my $rd = Test::Moongate::Client::new_reader($s, 5);
    my $ok = 0;
    for my $i (1 .. 600) {
        Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /a", ["X-K: key-$i"]));
        $ok++ if Test::Moongate::Client::read_response($rd, 'GET')->{status} == 200;
    }
    close $s;
    is($ok, 600, 'every new key passes');
    my ($z) = grep { $_->{name} eq 'tiny' } @{ main::admin_status($t)->{rate_limit_zones} };
    ok($z, 'the zone is in /status') or return;
    ok($z->{evictions} > 0, "keys were evicted ($z->{evictions})");
    ok($z->{count} < 600 && $z->{count} > 50, "the zone holds what fits ($z->{count})");
    is($z->{count} + $z->{evictions}, 600, 'every key is held or counted as evicted');
    is($z->{capacity}, 32768, 'capacity');
    # the most recent key is still counted, the oldest starts afresh
    is(main::get($t, "GET /a", ["X-K: key-600"])->{status}, 429, 'recent key still limited');
    is(main::get($t, "GET /a", ["X-K: key-1"])->{status}, 200, 'evicted key starts fresh');
}



=== TEST 16: a rejection goes through header_filter and body_filter plugins
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins: { tag: {} }
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h }
--- lua_plugins
>>> tag.lua
local mg = require "moongate"
return {
    name = "tag", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    header_filter = function(conf)
        mg.response.set_header("X-Tag", "seen-" .. mg.response.get_status())
    end,
    body_filter = function(conf)
        local chunk, eof = mg.response.get_body_chunk()
        if chunk and #chunk > 0 then
            mg.response.set_body_chunk(chunk:upper())
        end
    end,
}
--- request eval
["GET /a", "GET /a"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-Tag: seen-200", "X-Tag: seen-429\nRateLimit-Limit: 1"]
--- response_body_like eval
[".*", qr/RATE LIMIT EXCEEDED/]



=== TEST 17: a route with a rewrite plugin: the limit runs after rewrite, before access
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins: { order: {} }
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "header:X-From-Rewrite" }
--- lua_plugins
>>> order.lua
local mg = require "moongate"
return {
    name = "order", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    rewrite = function(conf)
        mg.request.set_header("X-From-Rewrite", "r")
    end,
    access = function(conf)
        mg.log(mg.INFO, "access ran")
    end,
}
--- request eval
["GET /a", "GET /a"]
--- error_code eval
[200, 429]
--- grep_error_log eval
qr/access ran/
--- grep_error_log_out
access ran



=== TEST 18: a rejected request's body is discarded, never parsed as a request
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: "header:X-K", missing_key: reject }
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 39\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\nX-K: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nX-K: 2\r\n\r\n"
--- error_code eval
[429, 200]
--- access_log eval
[qr{"POST /a HTTP/1.1" 429}, qr{"GET /next HTTP/1.1" 200}]
--- no_error_log
/evil



=== TEST 19: delayed requests whose clients leave end cleanly
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: leaky_bucket, rate: 2/s, burst: 5, delay: true }
--- request
GET /warm
--- test_code eval
sub {
    my $t = shift;
    # four queued behind the warm-up: the last waits about 2 s; its client leaves
    my @s = map { main::send_only($t, "GET /q$_") } 1 .. 4;
    Time::HiRes::sleep(0.2);
    close $_ for @s;
    Time::HiRes::sleep(2.3);
    is(main::get($t, "GET /after")->{status}, 200, 'the worker goes on serving');
}
--- no_error_log
[error]



=== TEST 20: a reload that keeps the zones keeps the counters
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: hourly, algorithm: fixed_window, rate: 2/h }
--- request eval
["GET /a", "GET /a", "GET /a"]
--- reload_after: 1
--- reload_yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api2
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: hourly, algorithm: fixed_window, rate: 2/h }
--- error_code eval
[200, 200, 429]
