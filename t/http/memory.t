# Memory after a burst: the worker gives back what a thousand connections with large
# request heads took, once they are gone (free lists cut, heap pages returned), rather
# than keeping its peak for good. The bounds are generous: RSS is the kernel's view.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: after 1,000 connections with 7 KB heads close, the worker's RSS comes back down
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- timeout: 30
--- test_code eval
sub {
    my ($t) = @_;
    my $master = $t->pid;
    my ($worker) = split ' ', Test::Moongate::Server::slurp("/proc/$master/task/$master/children")
        // '';
    my $rss = sub {
        my ($kb) = (Test::Moongate::Server::slurp("/proc/$worker/status") // '')
            =~ /^VmRSS:\s+(\d+)/m;
        return $kb // 0;
    };
    ok($worker, "worker $worker found");
    if ((Test::Moongate::Server::slurp("/proc/$worker/maps") // '') =~ /libasan|vgpreload/
        || $ENV{MG_TEST_VALGRIND}) {
        # the sanitizer's quarantine (or valgrind) holds freed memory: RSS says nothing
        pass('skipped: RSS is not the heap under AddressSanitizer or valgrind');
        return;
    }
    my $before = $rss->();
    # a head that grows the read buffer and never ends: each connection holds it
    my $head = "GET /x HTTP/1.1\r\nHost: a\r\n" . ("X-Pad: " . ("p" x 90) . "\r\n") x 70;
    my @socks;
    for (1 .. 1000) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or last;
        Test::Moongate::Client::write_all($s, $head);
        push @socks, $s;
    }
    is(scalar @socks, 1000, '1,000 connections open');
    Time::HiRes::sleep(1);
    my $peak = $rss->();
    ok($peak - $before > 4096, "the heads took memory: $before KiB idle, $peak KiB at the peak");
    close $_ for @socks;
    my $bound = int($before + ($peak - $before) / 3);
    my $now = $peak;
    for (1 .. 40) {
        Time::HiRes::sleep(0.5);
        $now = $rss->();
        last if $now <= $bound;
    }
    ok($now <= $bound, "RSS back to $now KiB (bound $bound KiB) within 20 s");
}
