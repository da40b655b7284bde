# Buffering (docs/buffering.md): a response read ahead of a slow client into memory and
# a temp file, the upstream connection released as soon as its answer is complete;
# streams (server-sent events, X-Accel-Buffering: no) left unbuffered; request bodies
# read whole before a node is chosen; an early upstream answer held until the request
# body kept the rules (413 otherwise). Upstreams are played by fake_upstream() below or
# by gunicorn (Debian package `gunicorn`), started and stopped by each block.
use Test::Moongate;
use Digest::SHA ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVBUF SO_LINGER);
use Time::HiRes ();

# The body /big/N answers: N bytes of numbered lines.
sub big_body {
    my ($n) = @_;
    my $s = join '', map { sprintf "%09d\n", $_ } 0 .. int($n / 10);
    return substr($s, 0, $n);
}

sub note_line {
    my ($file, $line) = @_;
    open my $fh, '>>', $file or return;
    syswrite $fh, "$line\n";
    close $fh;
}

sub lines_of {
    my ($file, $re) = @_;
    return grep { /$re/ } split /\n/, Test::Moongate::Server::slurp($file);
}

# fake_upstream($port, $mode, $log) -> pid. Every connection is noted in $log ("conn");
# modes:
#   big      keep-alive; GET /big/N answers N bytes (X-Accel-Buffering: no with
#            /big/N?noaccel), then notes "wrote N in S" once the last byte is written
#   early    answers 200 "early" as soon as the head is in, then reads and notes
#            "got B" (body bytes seen before EOF)
#   record   reads the whole request, notes "spread S" (seconds from the end of the head
#            to the end of the body), "te: ..." / "cl: ..." and "body B", answers "ok"
#   sse      text/event-stream: "data: 1", then 1 s later "data: 2", then closes
#   rst      reads a request (Content-Length body), then resets the connection
sub fake_upstream {
    my ($port, $mode, $log) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 64, ReuseAddr => 1) or die "listen: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid) { close $srv; return $pid }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $srv->accept) {
        note_line($log, 'conn');
        my $kid = fork();
        if ($kid || !defined $kid) { close $c; next }
        close $srv;
        local $SIG{PIPE} = 'IGNORE';
        fake_serve($c, $mode, $log);
        POSIX::_exit(0);
    }
    POSIX::_exit(0);
}

# Reads a head; returns (head, rest) or () on EOF / 5 s.
sub read_head {
    my ($c) = @_;
    my $buf = '';
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < 5) {
        return ($1, $2) if $buf =~ /\A(.*?\r\n\r\n)(.*)\z/s;
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        next unless select($rin, undef, undef, 0.1) > 0;
        return () unless sysread($c, $buf, 65536, length $buf);
    }
    return ();
}

# Reads a body framed by $head (Content-Length or chunked) after $rest; returns its
# de-chunked bytes, or undef.
sub read_body {
    my ($c, $head, $rest) = @_;
    my $buf = $rest;
    my $more = sub {
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        return 0 unless select($rin, undef, undef, 10) > 0;
        return sysread($c, $buf, 65536, length $buf);
    };
    if ($head =~ /^content-length:\s*(\d+)/im) {
        my $cl = $1;
        while (length($buf) < $cl) { $more->() or return undef }
        return substr($buf, 0, $cl);
    }
    return '' unless $head =~ /^transfer-encoding:\s*chunked/im;
    my $body = '';
    for (;;) {
        while ($buf !~ /\r\n/) { $more->() or return undef }
        $buf =~ s/\A([0-9a-f]+)\r\n//i or return undef;
        my $n = hex $1;
        while (length($buf) < $n + 2) { $more->() or return undef }
        return $body if $n == 0;
        $body .= substr($buf, 0, $n);
        substr($buf, 0, $n + 2) = '';
    }
}

sub fake_serve {
    my ($c, $mode, $log) = @_;
    if ($mode eq 'sse') {
        my ($h) = read_head($c) or return;
        syswrite $c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            . "Connection: close\r\n\r\ndata: 1\n\n";
        Time::HiRes::sleep(1);
        syswrite $c, "data: 2\n\n";
        return;
    }
    if ($mode eq 'early') {
        my ($h) = read_head($c) or return;
        syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly";
        my $got = 0;
        while (my $n = sysread($c, my $b, 65536)) { $got += $n }
        note_line($log, "got $got");
        return;
    }
    while (1) {
        my ($head, $rest) = read_head($c) or return;
        if ($mode eq 'rst') {
            read_body($c, $head, $rest);
            setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
            close $c;
            return;
        }
        if ($mode eq 'record') {
            my $t0 = Time::HiRes::time();
            my $body = read_body($c, $head, $rest) // return;
            note_line($log, sprintf "spread %.3f", Time::HiRes::time() - $t0);
            note_line($log, "te: $1") if $head =~ /^transfer-encoding:\s*(\S+)/im;
            note_line($log, "cl: $1") if $head =~ /^content-length:\s*(\d+)/im;
            note_line($log, 'body ' . length $body);
            syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            next;
        }
        my ($n) = $head =~ m{^GET /big/(\d+)} or return;
        my $accel = $head =~ m{^GET /big/\d+\?noaccel} ? "X-Accel-Buffering: no\r\n" : '';
        my $t0 = Time::HiRes::time();
        Test::Moongate::Client::write_all($c, "HTTP/1.1 200 OK\r\nContent-Length: $n\r\n"
            . "$accel\r\n" . main::big_body($n)) or return;
        note_line($log, sprintf "wrote $n in %.3f", Time::HiRes::time() - $t0);
    }
}

sub stop_pid {
    my ($pid) = @_;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# A client that sends GET $path and then reads about $rate bytes/s for $secs seconds
# with a small receive buffer. Returns its pid.
sub slow_reader {
    my ($port, $path, $rate, $secs) = @_;
    my $pid = fork() // die "fork: $!";
    return $pid if $pid;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or POSIX::_exit(1);
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
    $s->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
        or POSIX::_exit(1);
    syswrite $s, "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n";
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < $secs) {
        sysread($s, my $b, $rate / 10) or last;
        Time::HiRes::sleep(0.1);
    }
    POSIX::_exit(0);
}

# The worker processes of the server (children of its master).
sub workers {
    my ($t) = @_;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @w, $1 if $line =~ /^(\d+) \(.*\) \S (\d+)/ && $2 == $t->pid;
    }
    return @w;
}

# Descriptors the workers hold on files in the temp directory.
sub temp_fds {
    my ($t) = @_;
    my $dir = $t->servroot . '/temp';
    my $n = 0;
    for my $w (workers($t)) {
        for my $fd (glob "/proc/$w/fd/*") {
            my $l = readlink($fd) // next;
            $n++ if index($l, $dir) == 0;
        }
    }
    return $n;
}

# Opens a connection and sends GET $path without reading the answer.
sub send_get {
    my ($t, $path) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
    $s->connect(Socket::pack_sockaddr_in($t->port, Socket::inet_aton('127.0.0.1')))
        or die "connect: $!";
    syswrite $s, "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n";
    return $s;
}

# Reads a whole Content-Length response from $s; returns (status, body).
sub read_all {
    my ($s, $timeout) = @_;
    my $r = Test::Moongate::Client::read_response(
        Test::Moongate::Client::new_reader($s, $timeout), 'GET');
    return $r ? ($r->{status}, $r->{body}) : (undef, undef);
}

# Opens a connection and sends the head of a chunked POST /up; the body is the caller's.
sub post_chunked {
    my ($t) = @_;
    my $s = Test::Moongate::Client::connect_to($t->port, 5) or die "connect: $!";
    syswrite $s, "POST /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    return $s;
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < $secs) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.05);
    }
    return $cond->();
}

run_tests();

__DATA__

=== TEST 1: gunicorn with 2 sync workers: three slow downloads do not hold up a fast request
--- yaml_config
worker_processes: 1
upstreams:
  - name: app
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: app }
--- test_code eval
sub {
    my ($t) = @_;
    SKIP: {
        my ($gunicorn) = grep { -x } '/usr/bin/gunicorn', '/usr/bin/gunicorn3';
        Test::More::skip('gunicorn is not installed (Debian package gunicorn)', 3)
            unless $gunicorn;
        my $port = $t->fill('$MG_RAND_PORT_1');
        my $dir = $t->servroot;
        open my $fh, '>', "$dir/bufapp.py" or die;
        print $fh <<'PY';
def app(environ, start_response):
    if environ['PATH_INFO'] == '/big':
        body = b'x' * (8 << 20)
    else:
        body = b'fast'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
PY
        close $fh;
        my $g = fork() // die;
        if (!$g) {
            POSIX::setpgid(0, 0);
            open STDOUT, '>', "$dir/gunicorn.log";
            open STDERR, '>&', \*STDOUT;
            no warnings 'exec';
            exec $gunicorn, '--workers', '2', '--worker-class', 'sync', '--timeout', '60',
                '--bind', "127.0.0.1:$port", '--chdir', $dir, 'bufapp:app';
            POSIX::_exit(127);
        }
        main::wait_for(10, sub { Test::Moongate::Server::port_open($port) });
        my @slow = map { main::slow_reader($t->port, '/big', 10240, 15) } 1 .. 3;
        Time::HiRes::sleep(1.5);
        my $t0 = Time::HiRes::time();
        my $r = $t->request('GET /fast', [], 12);
        my $took = Time::HiRes::time() - $t0;
        main::stop_pid($_) for @slow;
        main::stop_pid($g);
        is($r && $r->{status}, 200, 'the fast request is answered');
        is($r && $r->{body}, 'fast', 'with its body');
        ok($took < 2, sprintf('within 2 s while three clients read slowly (%.3f s)', $took));
    }
}



=== TEST 2: the answer is read ahead of a client that does not read, spilled to a temp file
--- yaml_config
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: big
    buffering: { memory: 16k }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'big', $log);
    my $n = 3_000_000;
    my $s = main::send_get($t, "/big/$n");
    my $wrote = main::wait_for(5, sub { main::lines_of($log, qr/^wrote $n/) });
    ok($wrote, 'the upstream wrote its whole answer although the client reads nothing');
    ok(main::temp_fds($t) >= 1, 'the part over the memory bound went to a temp file');
    my @names = glob($t->servroot . '/temp/*');
    is(scalar @names, 0, 'the temp file has no name in the directory');
    my ($st, $body) = main::read_all($s, 10);
    is($st, 200, 'status');
    is(length($body // ''), $n, 'every byte arrives');
    is(Digest::SHA::sha256_hex($body // ''), Digest::SHA::sha256_hex(main::big_body($n)),
       'byte for byte (sha256)');
    close $s;
    ok(main::wait_for(3, sub { main::temp_fds($t) == 0 }), 'the temp file is closed after it');
    main::stop_pid($pid);
}



=== TEST 3: the upstream connection goes back to the pool while the slow client still reads
--- yaml_config
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: big }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'big', $log);
    my $s = main::send_get($t, '/big/2000000');
    main::wait_for(5, sub { main::lines_of($log, qr/^wrote 2000000/) });
    my $r = $t->request('GET /big/10', [], 3);
    is($r && $r->{status}, 200, 'a second request is answered while the first is not read');
    is(scalar main::lines_of($log, qr/^conn$/), 1, 'on the connection the first one released');
    my ($st, $body) = main::read_all($s, 10);
    is(length($body // ''), 2000000, 'the first answer arrives whole afterwards');
    close $s;
    main::stop_pid($pid);
}



=== TEST 4: X-Accel-Buffering: no streams at the client's pace
--- yaml_config
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: big }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'big', $log);
    my $n = 8_000_000;
    my $s = main::send_get($t, "/big/$n?noaccel");
    Time::HiRes::sleep(1.5);
    is(scalar main::lines_of($log, qr/^wrote/), 0,
       'the upstream is not read ahead of a client that does not read');
    is(main::temp_fds($t), 0, 'nothing is spooled');
    my ($st, $body) = main::read_all($s, 10);
    is(length($body // ''), $n, 'the answer arrives whole once the client reads');
    close $s;
    main::stop_pid($pid);
}



=== TEST 5: buffering.response: false streams at the client's pace too
--- yaml_config
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: big, buffering: { response: false } }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'big', $log);
    my $s = main::send_get($t, "/big/32000000");
    Time::HiRes::sleep(1.5);
    is(scalar main::lines_of($log, qr/^wrote/), 0, 'no read-ahead');
    my ($st, $body) = main::read_all($s, 10);
    is(length($body // ''), 32000000, 'the answer arrives whole');
    close $s;
    main::stop_pid($pid);
}



=== TEST 6: server-sent events: each event arrives before the next is produced
--- yaml_config
upstreams:
  - name: sse
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: sse }
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'sse', $t->servroot . '/f.log');
    my $s = main::send_get($t, '/events');
    my $t0 = Time::HiRes::time();
    my $buf = '';
    my ($first, $second);
    while (Time::HiRes::time() - $t0 < 4) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select($rin, undef, undef, 0.05) > 0;
        sysread($s, $buf, 4096, length $buf) or last;
        $first //= Time::HiRes::time() - $t0 if $buf =~ /data: 1/;
        $second //= Time::HiRes::time() - $t0 if $buf =~ /data: 2/;
        last if defined $second;
    }
    like($buf, qr{^HTTP/1\.1 200}, 'the head');
    ok(defined $first && $first < 0.7, sprintf('event 1 at once (%.3f s)', $first // -1));
    ok(defined $second && $second >= 0.9, sprintf('event 2 when produced (%.3f s)', $second // -1));
    close $s;
    main::stop_pid($pid);
}



=== TEST 7: a client that goes away mid-answer: the spool and its temp file go with it
--- yaml_config
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: big, buffering: { memory: 16k } }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'big', $log);
    my $s = main::send_get($t, '/big/3000000');
    main::wait_for(5, sub { main::lines_of($log, qr/^wrote/) });
    sysread($s, my $b, 1000);
    ok(main::temp_fds($t) >= 1, 'spooled');
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
    close $s;
    ok(main::wait_for(3, sub { main::temp_fds($t) == 0 }), 'the temp file is closed');
    my $r = $t->request('GET /big/100', [], 3);
    is($r && $r->{status}, 200, 'the worker goes on');
    main::stop_pid($pid);
}



=== TEST 8: request buffering: a slow upload reaches the upstream whole, with its length
--- yaml_config
upstreams:
  - name: rec
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: rec, buffering: { request: true, memory: 16k } }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'record', $log);
    my $s = main::post_chunked($t);
    for (1 .. 10) {
        syswrite $s, sprintf("%x\r\n%s\r\n", 20000, 'u' x 20000);
        Time::HiRes::sleep(0.1);
    }
    ok(!main::lines_of($log, qr/^conn$/), 'no upstream connection while the body arrives');
    syswrite $s, "0\r\n\r\n";
    my ($st, $body) = main::read_all($s, 5);
    is($st, 200, 'answered');
    my ($spread) = map { /spread (\S+)/ } main::lines_of($log, qr/^spread/);
    ok(defined $spread && $spread < 0.5, "the upstream got the body at once ($spread s)");
    is_deeply([main::lines_of($log, qr/^(te|cl|body)/)], ['cl: 200000', 'body 200000'],
              'de-chunked, with a Content-Length');
    close $s;
    main::stop_pid($pid);
}



=== TEST 9: request buffering: a body over the limit after 64 KiB never reaches the upstream
--- yaml_config
http: { client_max_body_size: 100k }
upstreams:
  - name: rec
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: rec, buffering: { request: true } }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'record', $log);
    my $body = CORE::join '', map { sprintf("%x\r\n%s\r\n", 10000, 'v' x 10000) } 1 .. 20;
    my $r = $t->request("POST /up\n${body}0\r\n\r\n", ['Transfer-Encoding: chunked'], 5);
    is($r && $r->{status}, 413, 'answered 413');
    Time::HiRes::sleep(0.3);
    is(scalar main::lines_of($log, qr/./), 0, 'the upstream saw nothing');
    main::stop_pid($pid);
}



=== TEST 10: request buffering: a retry replays the whole body on the next node
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    balancer: roundrobin
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: pair, buffering: { request: true, memory: 16k } }
--- test_code eval
sub {
    my ($t) = @_;
    my $log1 = $t->servroot . '/rst.log';
    my $log2 = $t->servroot . '/rec.log';
    my $p1 = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'rst', $log1);
    my $p2 = main::fake_upstream($t->fill('$MG_RAND_PORT_2'), 'record', $log2);
    my $body = 'w' x 300000;
    my @st;
    for (1 .. 2) {
        my $r = $t->request("PUT /x\n$body", [], 5);
        push @st, $r && $r->{status};
    }
    is_deeply(\@st, [200, 200], 'both answered');
    is(scalar main::lines_of($log1, qr/^conn$/), 1, 'one went to the resetting node first');
    is_deeply([main::lines_of($log2, qr/^body/)], ['body 300000', 'body 300000'],
              'the other node got the whole body both times');
    main::stop_pid($_) for $p1, $p2;
}



=== TEST 11: a chunked body over the limit sent slowly gets 413, not the upstream's early answer
--- yaml_config
http: { client_max_body_size: 100k }
upstreams:
  - name: early
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: early }
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'early', $t->servroot . '/f.log');
    my $s = main::post_chunked($t);
    local $SIG{PIPE} = 'IGNORE';
    for (1 .. 64) {
        syswrite($s, sprintf("%x\r\n%s\r\n", 16384, 'z' x 16384)) or last;
        Time::HiRes::sleep(0.02);
    }
    my ($st, $body) = main::read_all($s, 5);
    is($st, 413, 'the body broke the limit: 413');
    unlike($body // '', qr/early/, 'the early answer never reached the client');
    close $s;
    main::stop_pid($pid);
}



=== TEST 12: an early answer to a body within the limit goes down once the body ended
--- yaml_config
http: { client_max_body_size: 100k }
upstreams:
  - name: early
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: early }
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'early', $t->servroot . '/f.log');
    my $s = main::post_chunked($t);
    for (1 .. 6) {
        syswrite $s, sprintf("%x\r\n%s\r\n", 15000, 'z' x 15000);
        Time::HiRes::sleep(0.05);
    }
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    is(select(my $r = $rin, undef, undef, 0.3), 0, 'nothing comes before the body ended');
    syswrite $s, "0\r\n\r\n";
    my ($st, $body) = main::read_all($s, 5);
    is($st, 200, "the upstream's answer");
    is($body, 'early', 'with its body');
    close $s;
    main::stop_pid($pid);
}



=== TEST 13: a temp file that cannot be made: logged, and the answer streams whole
--- yaml_config
http: { temp_path: afile/temp }
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: big, buffering: { memory: 16k } }
--- user_files
>>> afile
not a directory
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/fake.log';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'big', $log);
    my $n = 3_000_000;
    my $s = main::send_get($t, "/big/$n");
    Time::HiRes::sleep(1);
    my ($st, $body) = main::read_all($s, 10);
    is(length($body // ''), $n, 'the answer arrives whole');
    is(Digest::SHA::sha256_hex($body // ''), Digest::SHA::sha256_hex(main::big_body($n)),
       'byte for byte');
    like($t->error_log, qr{buffering: creating a temp file in \S+/afile/temp: Not a directory; the response streams at the client's pace},
         'the failure is logged once, with the path and the reason');
    close $s;
    main::stop_pid($pid);
}
--- no_error_log
[alert]
