# ewma: with one node answering in about 1 ms and one in about 50 ms, the fast node gets
# most requests; roundrobin, for contrast, splits them evenly. Loose bounds: the box may
# be slow and shared.
use Test::Moongate;
use Test::Moongate::Client;
use POSIX ();

# load($t, $clients, $each, $path) -> { echo port => answers }: $clients client
# processes at once, each sending $each requests one after the other.
sub load {
    my ($t, $clients, $each, $path) = @_;
    my @kids;
    for my $k (1 .. $clients) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if (!$pid) {
            close $rd;
            for (1 .. $each) {
                my $r = $t->request("GET $path", [], 5);
                print $wr (($r && $r->{status} == 200 && $r->{headers}{'x-echo-port'}) || 'fail'),
                    "\n";
            }
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my %c;
    for my $k (@kids) {
        my $fh = $k->[1];
        while (my $l = <$fh>) { chomp $l; $c{$l}++ }
        waitpid($k->[0], 0);
    }
    return \%c;
}

run_tests();

__DATA__

=== TEST 1: ewma sends most requests to the fast node
--- yaml_config
upstreams:
  - name: pool
    balancer: ewma
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/*"], upstream: pool }
--- timeout: 20
--- test_code eval
sub {
    my ($t) = @_;
    my $slow = $t->fill('$MG_ECHO_PORT2');
    my $c = main::load($t, 4, 25, "/delay-on/$slow/50");
    my $fast = $c->{ $t->fill('$MG_ECHO_PORT') } // 0;
    is($c->{fail} // 0, 0, 'every request answered');
    ok($fast >= 70, "the fast node answered $fast of 100 (slow: " . ($c->{$slow} // 0) . ")");
    ok(($c->{$slow} // 0) >= 1, 'the slow node was measured too');
}



=== TEST 2: roundrobin on the same nodes splits evenly (the contrast)
--- yaml_config
upstreams:
  - name: pool
    balancer: roundrobin
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/*"], upstream: pool }
--- timeout: 20
--- test_code eval
sub {
    my ($t) = @_;
    my $slow = $t->fill('$MG_ECHO_PORT2');
    my $c = main::load($t, 4, 10, "/delay-on/$slow/50");
    is($c->{ $t->fill('$MG_ECHO_PORT') }, 20, 'half to the fast node');
    is($c->{$slow}, 20, 'half to the slow node');
}



=== TEST 3: a failing node is penalised: after one failure it gets (almost) nothing
--- yaml_config
upstreams:
  - name: pool
    balancer: ewma
    retries: 1
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT"]
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::load($t, 1, 20, "/hello");
    is($c->{ $t->fill('$MG_ECHO_PORT') }, 20, 'every request answered by the live node');
    my @tries = $t->error_log =~ /node 127\.0\.0\.1:\d+: connect failed/g;
    ok(@tries >= 1 && @tries <= 2, scalar(@tries) . " tries on the dead node");
}
