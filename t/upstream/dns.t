# DNS service discovery of upstream nodes: names resolved by the workers' resolvers and
# followed as their answers change, against a dnsmasq of our own on 127.0.0.1 (hosts
# from a file it re-reads on SIGHUP, SRV records from its conf file). The upstream
# servers listen on 127.0.0.2, 127.0.0.3, ... (Linux routes all of 127/8 to lo), so
# every A record is a node of its own. Nothing here asks any other name server.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Moongate ();
use Test::Moongate::Client;
use Test::Moongate::Server;
use Test::Moongate::Dnsmasq;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my $main_pid = $$;
my (@kids, %dns);

plan(skip_all => Test::Moongate::Dnsmasq::skip_reason()) unless Test::Moongate::Dnsmasq::bin();

my $root = Test::Moongate::mg_root() . "/t/servroot_dns_$$";
File::Path::make_path($root);

sub spew {
    my ($path, $text) = @_;
    open my $fh, '>', "$path.tmp" or die "$path: $!\n";
    print $fh $text;
    close $fh;
    rename "$path.tmp", $path or die "$path: $!\n";
}

# An upstream server on $addr:$port: every request gets "$addr:$port" as its body, or
# a 500 when $fail; keep-alive as HTTP/1.1 says.
sub backend {
    my ($addr, $port, $fail) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port, Listen => 128,
                                    ReuseAddr => 1, Proto => 'tcp')
        or die "backend: cannot listen on $addr:$port: $!\n";
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid) {
        close $srv;
        push @kids, $pid;
        return $pid;
    }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{TERM} = sub { POSIX::_exit(0) };
    while (1) {
        my $c = $srv->accept or next;
        my $kid = fork();
        if (defined $kid && $kid == 0) {
            close $srv;
            my $buf = '';
            while (1) {
                while ($buf !~ /\r\n\r\n/) {
                    my $n = sysread($c, $buf, 65536, length $buf);
                    POSIX::_exit(0) unless $n;
                }
                $buf =~ s/^(.*?)\r\n\r\n//s;
                my $head = $1;
                my ($host) = $head =~ /^Host:\s*(\S+)/mi;
                my $body = "$addr:$port " . ($host // '-');
                my $st = $fail ? '500 Failing' : '200 OK';
                syswrite($c, "HTTP/1.1 $st\r\nContent-Length: " . length($body)
                         . "\r\nContent-Type: text/plain\r\n\r\n$body");
            }
        }
        close $c;
    }
}

# dnsmasq answering from $hosts (a file it re-reads on SIGHUP) and the SRV lines of its
# conf file; every name under .test it does not know is NXDOMAIN.
sub dns_start {
    my (%o) = @_;
    my $hosts = "$root/hosts";
    spew($hosts, $o{hosts} // '');
    spew("$root/dnsmasq.conf", join('', map { "srv-host=$_\n" } @{ $o{srv} // [] }));
    my ($pid, $port) = Test::Moongate::Dnsmasq::start(
        "--addn-hosts=$hosts", '--local=/test/', '--local-ttl=' . ($o{ttl} // 1),
        "--conf-file=$root/dnsmasq.conf", '--log-facility=/dev/null');
    %dns = (pid => $pid, port => $port);
    return $port;
}

sub dns_hosts {
    spew("$root/hosts", $_[0]);
    kill 'HUP', $dns{pid};
}

sub dns_stop {
    Test::Moongate::Dnsmasq::stop($dns{pid});
    %dns = ();
}

sub stop_kids {
    for my $p (@kids) {
        kill 'TERM', -$p;
        kill 'TERM', $p;
        waitpid($p, 0);
    }
    @kids = ();
}

END {
    if ($$ == $main_pid) {
        local $?;
        dns_stop();
        stop_kids();
        File::Path::remove_tree($root) if Test::More->builder->is_passing
            && !$ENV{MG_TEST_NO_CLEAN};
    }
}

# A moongate with $yaml; the caller stops it.
sub gateway {
    my ($yaml) = @_;
    my $port = Test::Moongate::Server::free_port();
    my $t = Test::Moongate::Server->new(bin => Test::Moongate::mg_bin(), port => $port,
                                        servroot => "$root/mg_$port", vars => {},
                                        name => 'dns');
    $t->prepare_root;
    $t->write_file('conf/moongate.yaml', $t->config($yaml));
    $t->start;
    my $why = $t->wait_ready(10);
    die "moongate did not start: $why\n" . $t->error_log . $t->stderr_log if $why;
    return $t;
}

# $n requests: a hash of body -> count (status != 200 counts under "status NNN").
sub spread {
    my ($t, $n, $path) = @_;
    my %seen;
    for (1 .. $n) {
        my $res = $t->request("GET " . ($path // '/'), [], 3);
        my $st = $res ? $res->{status} // 0 : 0;
        my $key = $st == 200 ? (split / /, $res->{body})[0] : "status $st";
        $seen{$key}++;
    }
    return \%seen;
}

# Polls until `spread` of 10 requests hits exactly the addresses in @want (sorted).
sub wait_for {
    my ($t, $secs, @want) = @_;
    my $end = Time::HiRes::time() + $secs;
    my $got;
    while (Time::HiRes::time() < $end) {
        $got = spread($t, 10);
        return 1 if join(',', sort keys %$got) eq join(',', sort @want);
        Time::HiRes::sleep(0.2);
    }
    diag("after ${secs}s still " . JSON::PP->new->canonical->encode($got));
    return 0;
}

sub resolver_yaml { "resolver: { servers: [\"127.0.0.1:$dns{port}\"], timeout: 500ms"
                    . ($_[0] // '') . " }\n" }

# Polls /status until upstream $name lists $n nodes.
sub wait_nodes {
    my ($t, $name, $n, $secs) = @_;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        my $u = status_upstream($t, $name);
        return 1 if $u && @{ $u->{nodes} // [] } == $n;
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

sub status_upstream {
    my ($t, $name) = @_;
    my $st = $t->status or return undef;
    my ($u) = grep { $_->{name} eq $name } @{ $st->{upstreams} // [] };
    return $u;
}

my $P = Test::Moongate::Server::free_port();

# dnsmasq with api.test -> 127.0.0.2, 127.0.0.3 and a gateway whose upstream "api" is
# api.test:$P, once both addresses answer.
sub api_gateway {
    dns_start(hosts => "127.0.0.2 api.test\n127.0.0.3 api.test\n");
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: api
    nodes: [ { address: "api.test:$P" } ]
routes:
  - { name: all, paths: ["/*"], upstream: api }
YAML
    ok(wait_for($t, 5, "127.0.0.2:$P", "127.0.0.3:$P"), 'both addresses answer');
    return $t;
}
backend("127.0.0.$_", $P) for 2 .. 4;
backend('127.0.0.5', $P, 1);

subtest 'two A records: both nodes get traffic, Host stays the client\'s' => sub {
    my $t = api_gateway();
    my $got = spread($t, 20);
    is($got->{"127.0.0.2:$P"}, 10, 'roundrobin: half to 127.0.0.2');
    is($got->{"127.0.0.3:$P"}, 10, 'roundrobin: half to 127.0.0.3');
    my $res = $t->request("GET /x", ['Host: front.example'], 3);
    like($res->{body}, qr/ front\.example$/, 'the client\'s Host is passed');
    my $u = status_upstream($t, 'api');
    is(join(',', sort map { $_->{address} } @{ $u->{nodes} }), "127.0.0.2:$P,127.0.0.3:$P",
       '/status lists the resolved addresses');
    is($u->{nodes}[0]{resolved_from}, "api.test:$P", '... and the name they come from');
    is($u->{dns}[0]{error}, undef, '... and no resolver error');
    like($t->error_log, qr/api\.test:$P resolves to 127\.0\.0\.[23]:$P, 127\.0\.0\.[23]:$P/,
         'the answer is logged');
    $t->stop;
    dns_stop();
};

subtest 'hosts change: traffic follows within about the TTL, without a reload' => sub {
    my $t = api_gateway();
    my $gen = $t->generation;
    dns_hosts("127.0.0.3 api.test\n127.0.0.4 api.test\n");
    ok(wait_for($t, 4, "127.0.0.3:$P", "127.0.0.4:$P"), '127.0.0.2 left, 127.0.0.4 came');
    dns_hosts("127.0.0.4 api.test\n");
    ok(wait_for($t, 4, "127.0.0.4:$P"), 'down to one address');
    is($t->generation, $gen, 'no reload happened');
    my $u = status_upstream($t, 'api');
    is(join(',', map { $_->{address} } @{ $u->{nodes} }), "127.0.0.4:$P",
       '/status lists only the address of now');
    # one worker, one request at a time: one pooled connection per address in use; those
    # to the addresses that left were closed, not kept for reuse
    is($u->{connections}, 1, 'no pooled connection left to the addresses that went');
    $t->stop;
    dns_stop();
};

subtest 'an ejected node stays ejected after a re-resolution that keeps it' => sub {
    dns_start(hosts => "127.0.0.2 api.test\n127.0.0.5 api.test\n");
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: api
    retries: 0
    nodes: [ { address: "api.test:$P" } ]
    health_check:
      passive: { consecutive_5xx: 2, base_ejection_time: 60s, max_ejection_percent: 50 }
routes:
  - { name: all, paths: ["/*"], upstream: api }
YAML
    ok(wait_nodes($t, 'api', 2, 5), 'both addresses resolved');
    my $first = spread($t, 10);
    ok($first->{"127.0.0.2:$P"} && $first->{'status 500'}, 'both get traffic, one fails');
    ok(wait_for($t, 3, "127.0.0.2:$P"), 'the failing address gets ejected');
    my $log = length $t->error_log;
    dns_hosts("127.0.0.2 api.test\n127.0.0.5 api.test\n127.0.0.3 api.test\n");
    my $end = Time::HiRes::time() + 4;
    Time::HiRes::sleep(0.1) until substr($t->error_log, $log) =~ /1 new, 0 gone/
        || Time::HiRes::time() > $end;
    like(substr($t->error_log, $log), qr/api\.test:$P resolves to .*\(1 new, 0 gone\)/,
         'the new answer was merged');
    my $got = spread($t, 20);
    is(join(',', sort keys %$got), "127.0.0.2:$P,127.0.0.3:$P",
       'the ejected address still gets nothing, the new one gets traffic');
    my $u = status_upstream($t, 'api');
    my ($n5) = grep { $_->{address} eq "127.0.0.5:$P" } @{ $u->{nodes} };
    is($n5->{health}, 'ejected', '/status: still ejected');
    $t->stop;
    dns_stop();
};

subtest 'active checks follow the new addresses; a down one stays down' => sub {
    dns_start(hosts => "127.0.0.2 api.test\n127.0.0.5 api.test\n");
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: api
    nodes: [ { address: "api.test:$P" } ]
    health_check:
      active: { path: /health, interval: 200ms, timeout: 500ms, unhealthy_threshold: 2,
                healthy_threshold: 2 }
routes:
  - { name: all, paths: ["/*"], upstream: api }
YAML
    ok(wait_for($t, 5, "127.0.0.2:$P"), 'the failing address is found down by the probes');
    my $log = length $t->error_log;
    dns_hosts("127.0.0.2 api.test\n127.0.0.5 api.test\n127.0.0.3 api.test\n");
    ok(wait_for($t, 5, "127.0.0.2:$P", "127.0.0.3:$P"), 'the new address gets traffic');
    my $got = spread($t, 20);
    ok(!$got->{'status 500'}, 'the down address still gets none');
    my $u = status_upstream($t, 'api');
    my %health = map { $_->{address} => $_->{health} } @{ $u->{nodes} };
    is($health{"127.0.0.5:$P"}, 'unhealthy', '/status: still unhealthy');
    is($health{"127.0.0.3:$P"}, 'healthy', '/status: the new one healthy');
    unlike(substr($t->error_log, $log), qr/127\.0\.0\.5:$P.*(is healthy|came back)/i,
           'the down address was not brought back by the restart of the prober');
    $t->stop;
    dns_stop();
};

subtest 'name server gone: the last good answer serves, one error line' => sub {
    my $t = api_gateway();
    my $log = length $t->error_log;
    dns_stop();
    Time::HiRes::sleep(7.5); # the TTL (1 s), a failed round, the retry 5 s later
    my $got = spread($t, 20);
    is_deeply($got, { "127.0.0.2:$P" => 10, "127.0.0.3:$P" => 10 }, 'both still serve');
    my $new = substr($t->error_log, $log);
    my @lines = $new =~ /(cannot resolve api\.test:$P[^\n]*)/g;
    is(scalar @lines, 1, 'one error line for the outage') or diag($new);
    like($lines[0] // '', qr/its last addresses keep serving/, '... saying what happens');
    my $u = status_upstream($t, 'api');
    ok($u->{dns}[0]{error}, '/status shows the resolver error: ' . ($u->{dns}[0]{error} // ''));
    $t->stop;
};

# A name server that answers every query with its question and then garbage: counts
# that lie, records cut short, random bytes.
sub garbage_dns {
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
        or die "udp socket: $!\n";
    my $port = $s->sockport;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid) {
        close $s;
        push @kids, $pid;
        return $port;
    }
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $n = 0;
    while (1) {
        my $peer = $s->recv(my $q, 512) // next;
        next if length($q) < 12;
        my ($id) = unpack('n', $q);
        my $question = substr($q, 12);
        my $junk = join '', map { chr(int(rand(256))) } 1 .. int(rand(40));
        my @shapes = (
            pack('nnnnnn', $id, 0x8180, 1, 3, 0, 0) . $question . $junk,
            pack('nnnnnn', $id, 0x8180, 1, 1, 0, 0) . $question . "\xc0\x0c\x00",
            pack('nnnnnn', $id, 0x8180, 1, 1, 0, 0) . $question
                . "\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x05\x00\x40\x00",
            pack('nnnnnn', $id, 0x8180, 9, 0, 0, 0) . $junk,
        );
        $s->send($shapes[$n++ % @shapes], 0, $peer);
    }
}

subtest 'a name server answering garbage: the last good answers keep serving' => sub {
    my ($pa) = Test::Moongate::Server::free_port();
    backend('127.0.0.4', $pa);
    dns_start(hosts => "127.0.0.2 api.test\n127.0.0.3 api.test\n127.0.0.4 s.test\n",
              srv => ["_http._tcp.svc.test,s.test,$pa,1,1"]);
    my $tail = <<"YAML";
upstreams:
  - name: api
    nodes: [ "api.test:$P" ]
  - name: svc
    nodes: [ { address: "_http._tcp.svc.test", srv: true } ]
routes:
  - { name: all, paths: ["/*"], upstream: api }
  - { name: svc, paths: ["/svc"], upstream: svc }
YAML
    my $t = gateway(resolver_yaml() . $tail);
    ok(wait_for($t, 5, "127.0.0.2:$P", "127.0.0.3:$P"), 'two addresses from the good server');
    my $res = $t->request("GET /svc", [], 3);
    like($res->{body} // '', qr/^127\.0\.0\.4:$pa /, 'the SRV node answers');
    my $bad = garbage_dns();
    my $log = length $t->error_log;
    is($t->reload("resolver: { servers: [\"127.0.0.1:$bad\"], timeout: 500ms }\n" . $tail), '',
       'reloaded onto the garbage server');
    Time::HiRes::sleep(3);
    my $got = spread($t, 20);
    is_deeply($got, { "127.0.0.2:$P" => 10, "127.0.0.3:$P" => 10 }, 'the names still serve');
    $res = $t->request("GET /svc", [], 3);
    like($res->{body} // '', qr/^127\.0\.0\.4:$pa /, 'so does the SRV name');
    my $new = substr($t->error_log, $log);
    my @api = $new =~ /(cannot resolve api\.test:$P[^\n]*)/g;
    my @svc = $new =~ /(cannot resolve _http\._tcp\.svc\.test \(SRV\)[^\n]*)/g;
    is(scalar @api, 1, 'one error line for the name') or diag($new);
    is(scalar @svc, 1, 'one for the SRV name') or diag($new);
    unlike($new, qr/\[(crit|alert)\]|AddressSanitizer|runtime error/, 'no worker trouble');
    $t->stop;
    dns_stop();
};

subtest 'SRV: the lowest priority group, its ports and weights' => sub {
    my ($pa, $pb, $pc) = map { Test::Moongate::Server::free_port() } 1 .. 3;
    backend('127.0.0.2', $pa);
    backend('127.0.0.3', $pb);
    backend('127.0.0.4', $pc);
    dns_start(hosts => "127.0.0.2 a.test\n127.0.0.3 b.test\n127.0.0.4 c.test\n",
              srv => ["_http._tcp.svc.test,a.test,$pa,10,1", "_http._tcp.svc.test,b.test,$pb,10,3",
                      "_http._tcp.svc.test,c.test,$pc,20,100"]);
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: svc
    nodes: [ { address: "_http._tcp.svc.test", srv: true } ]
routes:
  - { name: all, paths: ["/*"], upstream: svc }
YAML
    ok(wait_for($t, 5, "127.0.0.2:$pa", "127.0.0.3:$pb"), 'the two records of priority 10');
    my $got = spread($t, 40);
    is($got->{"127.0.0.2:$pa"}, 10, 'weight 1: a quarter');
    is($got->{"127.0.0.3:$pb"}, 30, 'weight 3: three quarters');
    ok(!$got->{"127.0.0.4:$pc"}, 'priority 20 is a backup group: nothing');
    my $u = status_upstream($t, 'svc');
    my ($b) = grep { $_->{address} eq "127.0.0.3:$pb" } @{ $u->{nodes} };
    is($b->{resolved_from}, "b.test:$pb", 'an SRV node is known by its target and port');
    $t->stop;
    dns_stop();
};

subtest 'a reload starts with the addresses the previous generation had' => sub {
    my ($pa, $pb) = map { Test::Moongate::Server::free_port() } 1 .. 2;
    backend('127.0.0.2', $pa);
    backend('127.0.0.3', $pb);
    dns_start(hosts => "127.0.0.2 a.test\n127.0.0.3 b.test\n",
              srv => ["_http._tcp.svc.test,a.test,$pa,10,1", "_http._tcp.svc.test,b.test,$pb,10,1"]);
    my $yaml = resolver_yaml() . <<"YAML";
upstreams:
  - name: svc
    nodes: [ { address: "_http._tcp.svc.test", srv: true } ]
routes:
  - { name: all, paths: ["/*"], upstream: svc }
YAML
    my $t = gateway($yaml);
    ok(wait_for($t, 5, "127.0.0.2:$pa", "127.0.0.3:$pb"), 'both SRV targets');
    is($t->reload($yaml . "  - { name: other, paths: [\"/other\"], upstream: svc }\n"), '',
       'reloaded');
    my $got = spread($t, 10);
    is_deeply($got, { "127.0.0.2:$pa" => 5, "127.0.0.3:$pb" => 5 },
              'the first requests of the new generation are served, none waits for DNS');
    my $u = status_upstream($t, 'svc');
    is(join(',', sort map { $_->{resolved_from} } @{ $u->{nodes} }), "a.test:$pa,b.test:$pb",
       'the seeded nodes keep their SRV target names');
    $t->stop;
    dns_stop();
};

subtest 'TLS to a resolved node: SNI and the certificate check use the name' => sub {
    require Test::Moongate::TlsUpstream;
    my $up = Test::Moongate::TlsUpstream::start();
    plan(skip_all => 'nginx is not installed (Debian package nginx)') unless $up;
    dns_start(hosts => "127.0.0.1 upstream.test\n");
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: secure
    nodes: [ "upstream.test:$up->{port}{good}" ]
    tls: { ca: "$up->{dir}/ca.crt" }
routes:
  - { name: all, paths: ["/*"], upstream: secure }
YAML
    ok(wait_nodes($t, 'secure', 1, 5), 'resolved');
    my $res = $t->request("GET /", [], 3);
    is($res->{status}, 200, 'the certificate for upstream.test is accepted');
    like($res->{body} // '', qr/^sni=upstream\.test /, 'SNI is the name, not the address');
    $t->stop;
    dns_stop();
};

subtest 'weights are inherited by every address of a name' => sub {
    dns_start(hosts => "127.0.0.2 api.test\n127.0.0.3 api.test\n");
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: api
    nodes:
      - { address: "api.test:$P", weight: 3 }
      - { address: "127.0.0.4:$P", weight: 1 }
routes:
  - { name: all, paths: ["/*"], upstream: api }
YAML
    ok(wait_for($t, 5, "127.0.0.2:$P", "127.0.0.3:$P", "127.0.0.4:$P"), 'three nodes');
    my $got = spread($t, 70);
    is_deeply($got, { "127.0.0.2:$P" => 30, "127.0.0.3:$P" => 30, "127.0.0.4:$P" => 10 },
              'each address of the name has weight 3');
    $t->stop;
    dns_stop();
};

subtest 'resolver.valid overrides the TTL' => sub {
    dns_start(hosts => "127.0.0.2 api.test\n", ttl => 3600);
    my $t = gateway(resolver_yaml(', valid: 1s') . <<"YAML");
upstreams:
  - name: api
    nodes: [ "api.test:$P" ]
routes:
  - { name: all, paths: ["/*"], upstream: api }
YAML
    ok(wait_for($t, 5, "127.0.0.2:$P"), 'one address');
    dns_hosts("127.0.0.3 api.test\n");
    ok(wait_for($t, 4, "127.0.0.3:$P"), 'a TTL of an hour, yet the change shows within 4 s');
    $t->stop;
    dns_stop();
};

subtest 'a name that does not resolve at start: 503 and a clear line until it does' => sub {
    dns_start(hosts => "127.0.0.2 other.test\n");
    my $t = gateway(resolver_yaml() . <<"YAML");
upstreams:
  - name: api
    nodes: [ "late.test:$P" ]
routes:
  - { name: all, paths: ["/*"], upstream: api }
YAML
    Time::HiRes::sleep(0.5);
    my $res = $t->request("GET /", [], 3);
    is($res->{status}, 503, '503 while the name has no address');
    my $log = $t->error_log;
    like($log, qr/cannot resolve late\.test:$P: host not found; it has no node until it resolves/,
         'the resolver error is logged');
    like($log, qr/upstream "api": no resolved upstream node, DNS: host not found/,
         'the 503 says why');
    dns_hosts("127.0.0.2 other.test\n127.0.0.3 late.test\n");
    ok(wait_for($t, 12, "127.0.0.3:$P"), 'served once the name resolves');
    like($t->error_log, qr/late\.test:$P resolves again/, 'the recovery is logged');
    $t->stop;
    dns_stop();
};

subtest 'configuration errors' => sub {
    my $t = Test::Moongate::Server->new(bin => Test::Moongate::mg_bin(), port => 1,
                                        servroot => "$root/conf", vars => {}, name => 'conf');
    $t->prepare_root;
    my @cases = (
        ["upstreams:\n  - name: a\n    nodes: [ { address: \"127.0.0.1:80\", srv: true } ]\n",
         qr/:3:\d+: upstreams\[0\]\.nodes\[0\]\.address: srv: true expects a DNS name .*got the IP address "127\.0\.0\.1:80"/],
        ["upstreams:\n  - name: a\n    nodes: [ { address: \"svc.test:80\", srv: true } ]\n",
         qr/upstreams\[0\]\.nodes\[0\]\.address: srv: true expects a DNS name .*got the address with a port "svc\.test:80"/],
        ["upstreams:\n  - name: a\n    nodes: [ { address: \"x.test:80\", srv: maybe } ]\n",
         qr/upstreams\[0\]\.nodes\[0\]\.srv: expected/],
        ["upstreams:\n  - name: a\n    nodes: [ \"x.test:80\", \"X.test:80\" ]\n",
         qr/upstreams\[0\]\.nodes\[1\]: address "X\.test:80" is already a node \(nodes\[0\]\)/],
        ["upstreams:\n  - name: a\n    nodes: [ \"bad!name:80\" ]\n",
         qr/upstreams\[0\]\.nodes\[0\]: expected .*not a valid IP address or host name/],
        ["resolver: { valid: soon }\n", qr/:1:\d+: resolver\.valid: expected/],
    );
    for my $c (@cases) {
        my $yaml = $c->[0] . "routes:\n  - { paths: [\"/*\"], return: { status: 200 } }\n";
        $t->write_file('conf/moongate.yaml', $yaml);
        my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->conf_file);
        isnt($code, 0, 'refused: ' . (split /\n/, $c->[0])[-1]);
        like($out, $c->[1], '... with the key and what was expected') or diag($out);
    }
    $t->write_file('conf/moongate.yaml', "upstreams:\n  - name: a\n    nodes: [ \"nowhere.invalid:80\" ]\n"
                   . "routes:\n  - { paths: [\"/*\"], upstream: a }\n");
    my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->conf_file);
    is($code, 0, 'a name that does not resolve is no load error (it may resolve later)')
        or diag($out);
};

done_testing();
