# sticky: a cookie names the node; new clients get one from the fallback algorithm;
# a client whose node is down moves, with a new cookie.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::Echo;

# get($t, \@headers) -> (echo port, Set-Cookie or undef) of one GET /hello.
sub get {
    my ($t, $headers) = @_;
    my $r = $t->request("GET /hello", $headers // [], 3);
    die "no 200: " . ($r ? $r->{status} // 'none' : 'none') . "\n"
        unless $r && ($r->{status} // 0) == 200;
    return ($r->{headers}{'x-echo-port'}, $r->{headers}{'set-cookie'});
}

run_tests();

__DATA__

=== TEST 1: the cookie is set once, then honoured; new clients are spread
--- yaml_config
upstreams:
  - name: pool
    balancer: sticky
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my (%first, %tokens);
    for my $client (1 .. 4) {
        my ($port, $cookie) = main::get($t);
        like($cookie // '', qr/^mg_node=[0-9a-f]{16}; Path=\/; HttpOnly$/,
             "client $client: a cookie naming its node");
        my ($tok) = ($cookie // '') =~ /^mg_node=([0-9a-f]{16})/;
        $first{$port}++;
        $tokens{$port}{$tok // ''}++;
        unlike($cookie // '', qr/127\.0\.0\.1|$port/, 'the token is opaque');
        for (1 .. 5) {
            my ($p2, $c2) = main::get($t, ["Cookie: other=1; mg_node=$tok"]);
            is($p2, $port, "client $client stays on its node");
            ok(!defined $c2, 'and gets no new cookie');
        }
    }
    is(scalar(keys %first), 2, 'new clients went round robin over both nodes');
    is(scalar(keys %{ $tokens{$_} }), 1, "one token per node ($_)") for keys %tokens;
    my ($p, $c) = main::get($t, ["Cookie: mg_node=0123456789abcdef"]);
    like($c // '', qr/^mg_node=[0-9a-f]{16};/, 'a token naming no node: a new cookie');
}



=== TEST 2: cookie name, path, max_age, secure; least_conn fallback
--- yaml_config
upstreams:
  - name: pool
    balancer: sticky
    sticky: { cookie: srv, fallback: least_conn, path: /api, max_age: 1h, secure: true, httponly: false }
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my ($port, $cookie) = main::get($t);
    like($cookie // '', qr/^srv=[0-9a-f]{16}; Path=\/api; Max-Age=3600; Secure$/,
         'the configured attributes');
    my ($tok) = ($cookie // '') =~ /^srv=(\w+)/;
    my ($p2, $c2) = main::get($t, ["Cookie: srv=\"$tok\""]);
    is($p2, $port, 'a quoted cookie value is honoured');
    ok(!defined $c2, 'no new cookie');
}



=== TEST 3: the client's node goes down: it moves to another node with a new cookie
--- yaml_config
upstreams:
  - name: pool
    balancer: sticky
    retries: 1
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_RAND_PORT_1"]
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $doomed = $t->fill('$MG_RAND_PORT_1');
    my $pid = Test::Moongate::Echo::start($doomed);
    my ($tok, $port, $cookie);
    for (1 .. 4) {    # round robin: one of the first two new clients lands on it
        ($port, $cookie) = main::get($t);
        last if $port == $doomed;
    }
    Test::Moongate::Echo::stop($pid);
    is($port, $doomed, 'a client was placed on the node that goes down');
    ($tok) = ($cookie // '') =~ /^mg_node=(\w+)/;
    my ($p2, $c2) = main::get($t, ["Cookie: mg_node=$tok"]);
    is($p2, $t->fill('$MG_ECHO_PORT'), 'its next request is answered by the other node');
    my ($tok2) = ($c2 // '') =~ /^mg_node=(\w+)/;
    ok($tok2 && $tok2 ne $tok, 'with a cookie naming that node');
    my ($p3, $c3) = main::get($t, ["Cookie: mg_node=$tok2"]);
    is($p3, $p2, 'and it stays there');
    ok(!defined $c3, 'without another cookie');
}
--- no_error_log
[error]



=== TEST 4: a response the gateway answers itself (no node) sets no cookie
--- yaml_config
upstreams:
  - name: pool
    balancer: sticky
    retries: 0
    nodes: ["127.0.0.1:$MG_RAND_PORT_1"]
routes:
  - { paths: ["/*"], upstream: pool }
--- request
GET /hello
--- error_code: 502
--- response_headers
!Set-Cookie
