# least_conn's in-flight counts are shared by the workers and always return to zero:
# after answers, failed tries, retries and clients that go away mid-request.
use Test::Moongate;
use Test::Moongate::Client;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

# state($t) -> { "addr" => [inflight, requests, failures] } from the /__state route.
sub state {
    my ($t) = @_;
    my $r = $t->request("GET /__state", [], 3);
    return {} unless $r && ($r->{status} // 0) == 200;
    my %s;
    for (split /\n/, $r->{body}) {
        my ($addr, @v) = split / /;
        $s{$addr} = \@v;
    }
    return \%s;
}

# settled($t) -> the state once nothing is in flight (polled, up to 5 s), or the last.
sub settled {
    my ($t) = @_;
    my $end = Time::HiRes::time() + 5;
    my $s;
    while (1) {
        $s = state($t);
        my $busy = grep { $_->[0] != 0 } values %$s;
        return $s if (%$s && !$busy) || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

# parallel($t, $n, $spec) -> { echo port => answers } of $n requests sent at once, each
# on its own connection, answered in any order.
sub parallel {
    my ($t, $n, $spec) = @_;
    my @socks = map { Test::Moongate::Client::connect_to($t->port, 5) } 1 .. $n;
    Test::Moongate::Client::write_all($_, Test::Moongate::Client::build($spec, [])) for @socks;
    my %c;
    for my $s (@socks) {
        my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                      'GET');
        $c{ ($r && $r->{headers}{'x-echo-port'}) // 'none' }++;
        close $s;
    }
    return \%c;
}

# abandon($t, $n, $path): $n clients each start a POST of 100000 bytes, send 70000 of
# them (past the gateway's 64 KiB buffer, so the try has begun and the body streams
# upstream) and close the connection: the requests die mid-try.
sub abandon {
    my ($t, $n, $path) = @_;
    my @socks;
    for (1 .. $n) {
        my $s = Test::Moongate::Client::connect_to($t->port, 5) or next;
        Test::Moongate::Client::write_all($s, "POST $path HTTP/1.1\r\nHost: localhost\r\n"
                                              . "Content-Length: 100000\r\n\r\n" . ('x' x 70000));
        push @socks, $s;
    }
    Time::HiRes::sleep(0.2);
    close $_ for @socks;
}

run_tests();

__DATA__

=== TEST 1: two workers share the counts: concurrent slow requests split evenly, none leak
--- yaml_config
worker_processes: 2
upstreams:
  - name: pool
    balancer: least_conn
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/__state"], upstream: pool, plugins: { state: {} } }
  - { paths: ["/*"], upstream: pool }
--- lua_plugins
>>> state.lua
local mg = require "moongate"
return {
    name = "state", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, n in ipairs(mg.balancer.nodes()) do
            out[#out + 1] = table.concat({ n.address, n.inflight, n.requests, n.failures }, " ")
        end
        return 200, table.concat(out, "\n")
    end,
}
--- timeout: 10
--- test_code eval
sub {
    my ($t) = @_;
    my ($a, $b) = map { "127.0.0.1:" . $t->fill($_) } '$MG_ECHO_PORT', '$MG_ECHO_PORT2';
    my $c = main::parallel($t, 20, "GET /delay/400");
    my ($ca, $cb) = map { $c->{ $t->fill($_) } // 0 } '$MG_ECHO_PORT', '$MG_ECHO_PORT2';
    is($ca + $cb, 20, 'all 20 answered');
    ok($ca >= 7 && $cb >= 7, "split by load across the workers ($ca / $cb)");
    main::abandon($t, 10, "/delay/300");
    my $s = main::settled($t);
    is($s->{$a}[0], 0, 'node 1: nothing left in flight after answers and aborts');
    is($s->{$b}[0], 0, 'node 2: nothing left in flight after answers and aborts');
    ok($s->{$a}[1] + $s->{$b}[1] >= 20, 'the tries were counted');
    # the counts kept working: a new batch splits again
    $c = main::parallel($t, 10, "GET /delay/300");
    ok(($c->{ $t->fill('$MG_ECHO_PORT') } // 0) >= 3
       && ($c->{ $t->fill('$MG_ECHO_PORT2') } // 0) >= 3, 'a later batch splits too');
    $s = main::settled($t);
    is($s->{$a}[0] + $s->{$b}[0], 0, 'and leaves nothing in flight');
}



=== TEST 2: failed tries and retries end their tries: a dead node's count returns to zero
--- yaml_config
worker_processes: 2
upstreams:
  - name: pool
    balancer: least_conn
    retries: 1
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT"]
routes:
  - { paths: ["/__state"], upstream: pool, plugins: { state: {} } }
  - { paths: ["/*"], upstream: pool }
--- lua_plugins
>>> state.lua
local mg = require "moongate"
return {
    name = "state", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, n in ipairs(mg.balancer.nodes()) do
            out[#out + 1] = table.concat({ n.address, n.inflight, n.requests, n.failures }, " ")
        end
        return 200, table.concat(out, "\n")
    end,
}
--- timeout: 10
--- test_code eval
sub {
    my ($t) = @_;
    my ($dead, $live) = map { "127.0.0.1:" . $t->fill($_) } '$MG_RAND_PORT_1', '$MG_ECHO_PORT';
    my $c = main::parallel($t, 10, "GET /delay/100");
    is($c->{ $t->fill('$MG_ECHO_PORT') }, 10, 'every request answered, after a retry if need be');
    main::abandon($t, 5, "/delay/300");
    my $s = main::settled($t);
    is($s->{$dead}[0], 0, 'the dead node has nothing in flight');
    is($s->{$live}[0], 0, 'the live node has nothing in flight');
    ok($s->{$dead}[2] >= 1 && $s->{$dead}[2] == $s->{$dead}[1], 'its tries all counted as failures');
    is($s->{$live}[2], 0, 'the live node failed nothing');
}
