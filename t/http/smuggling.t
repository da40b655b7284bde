# Request smuggling, class by class. The classes come from public corpora (HTTP
# Garden, defparam/smuggler, PortSwigger's desync permutations, llhttp's own fixtures,
# the RFC 9112 grammar); the cases are written here as our own.
#
# Every case goes to the gateway on a new connection. Refused, it must get the status
# shown and nothing may reach the upstream. Accepted, the upstream must receive exactly
# the requests listed, each framed so that a strict parser reads it whole (the
# recording upstream below refuses anything else), and the client must get exactly one
# answer per request it meant to send: a smuggled request would show up as one more
# answer or one more upstream request.
use Test::Moongate;
use Test::Moongate::Client;
use File::Temp ();
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my $MainPid = $$;
my $Dir = File::Temp::tempdir(CLEANUP => 1);
my $UpLog = "$Dir/upstream";
our $UpPort = Test::Moongate::Server::free_port();
my $UpPid = start_recorder($UpPort, $UpLog);

END {
    if ($$ == $MainPid && $UpPid) {
        local $?;    # keep the test's exit status
        kill 'KILL', -$UpPid;
        waitpid($UpPid, 0);
    }
}

# ---- the recording upstream ----

# start_recorder($port, $file) -> pid. Serves each connection in a child: reads
# requests framed by Content-Length or chunked (no trailers: the gateway sends none),
# appends each to $file as a JSON line {line, headers, body}, answers 200 "ok". Bytes
# it cannot frame are appended as {error} and end the connection.
sub start_recorder {
    my ($port, $file) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "recording upstream: cannot listen on $port: $!\n";
    my $pid = fork();
    die "recording upstream: fork: $!\n" unless defined $pid;
    if ($pid) {
        close $srv;
        return $pid;
    }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    while (1) {
        my $c = $srv->accept or next;
        my $kid = fork();
        if (defined $kid && $kid == 0) {
            close $srv;
            eval { record_connection($c, $file) };
            record($file, { error => "recorder: $@" }) if $@;
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub record {
    my ($file, $r) = @_;
    open my $fh, '>>', $file or die "$file: $!";
    flock($fh, 2);
    print $fh JSON::PP->new->canonical->encode($r), "\n";
    close $fh;
}

# need(\$buf, $c, $n) or need_re(\$buf, $c, $re): reads until the buffer holds what
# is asked for; false at EOF.
sub need {
    my ($buf, $c, $test) = @_;
    until ($test->()) {
        my $n = sysread($c, $$buf, 65536, length $$buf);
        return 0 unless $n;
    }
    return 1;
}

sub record_connection {
    my ($c, $file) = @_;
    binmode $c;
    my $buf = '';
    while (1) {
        if (!need(\$buf, $c, sub { $buf =~ /\r\n\r\n/ })) {
            record($file, { error => "bytes after the last request: $buf" }) if length $buf;
            return;
        }
        $buf =~ /\r\n\r\n/;
        my $end = $+[0];
        my ($line, @fields) = split /\r\n/, substr($buf, 0, $end - 4);
        substr($buf, 0, $end) = '';
        my %h;
        for my $f (@fields) {
            my ($k, $v) = $f =~ /^([!#\$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/
                or return record($file, { error => "bad field line: $f" });
            return record($file, { error => "control byte in $k" }) if $v =~ /[\x00-\x08\x0a-\x1f\x7f]/;
            $k = lc $k;
            $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
        }
        return record($file, { error => "bad request line: $line" })
            unless $line =~ m{^[A-Z]+ \S+ HTTP/1\.1$};
        my ($cl, $te) = ($h{'content-length'}, $h{'transfer-encoding'});
        return record($file, { error => "both framings" }) if defined $cl && defined $te;
        my $body = '';
        if (defined $te) {
            return record($file, { error => "coding $te" }) unless $te eq 'chunked';
            while (1) {
                need(\$buf, $c, sub { $buf =~ /\r\n/ }) or return;
                $buf =~ s/\A([0-9a-f]+)\r\n//
                    or return record($file, { error => "bad chunk line" });
                my $n = hex $1;
                need(\$buf, $c, sub { length($buf) >= $n + 2 }) or return;
                return record($file, { error => "no CRLF after data" })
                    unless substr($buf, $n, 2) eq "\r\n";
                $body .= substr($buf, 0, $n);
                substr($buf, 0, $n + 2) = '';
                last if $n == 0;
            }
        } elsif (defined $cl) {
            return record($file, { error => "bad length $cl" }) unless $cl =~ /^\d+$/;
            need(\$buf, $c, sub { length($buf) >= $cl }) or return;
            $body = substr($buf, 0, $cl);
            substr($buf, 0, $cl) = '';
        }
        record($file, { line => $line, headers => \%h, body => $body });
        my $out = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        syswrite($c, $out) == length $out or return;
    }
}

# What the upstream received since the last case, one summary per request:
# "METHOD TARGET host=HOST body=BODY", or "error: ...".
sub received {
    open my $fh, '<', $UpLog or return ();
    my @r = map { JSON::PP::decode_json($_) } <$fh>;
    close $fh;
    return map {
        $_->{error} ? "error: $_->{error}"
                    : "$_->{line} host=$_->{headers}{host} body=$_->{body}" =~ s/ HTTP\/1\.1//r
    } @r;
}

# ---- the cases ----

# The configuration of every block: host "a" (and any other) goes to the recording
# upstream, host "b" is answered 403 by the gateway.
sub conf {
    return <<"EOF";
upstreams:
  - name: rec
    nodes: [{ address: "127.0.0.1:$UpPort" }]
routes:
  - { name: on-b, hosts: ["b"], paths: ["/*"], return: { status: 403, body: "b" } }
  - { name: all, paths: ["/*"], upstream: rec }
EOF
}

# cases($t, [name, raw, [statuses], [upstream summaries]], ...): runs each case.
sub cases {
    my ($t, @cases) = @_;
    for my $case (@cases) {
        my ($name, $raw, $want, $up) = @$case;
        truncate $UpLog, 0 if -e $UpLog;
        my $s = Test::Moongate::Client::connect_to($t->port, 3) or die "connect: $!";
        Test::Moongate::Client::write_all($s, $raw);
        my $rd = Test::Moongate::Client::new_reader($s, 3);
        my @got;
        for (@$want) {
            my $r = Test::Moongate::Client::read_response($rd, 'GET');
            push @got, !$r ? 'closed' : $r->{status} // 'timeout';
            last unless $r && defined $r->{status};
        }
        # one answer more would be a request we did not mean to send
        $rd->{timeout} = 0.3;
        my $extra = @got == @$want ? Test::Moongate::Client::read_response($rd, 'GET') : undef;
        push @got, "extra $extra->{status}" if $extra && defined $extra->{status};
        close $s;
        Time::HiRes::sleep(0.05);
        is("@got", "@$want", "$name: answers");
        is_deeply([received()], $up, "$name: upstream");
    }
}

# Shorthands: P() is the start of a POST head; bad() is a refused case, good() an
# accepted one with what the upstream must receive.
sub P { "POST / HTTP/1.1\r\nHost: a\r\n" . join('', map { "$_\r\n" } @_) }
sub bad { my ($name, $raw, $status) = @_; [$name, $raw, [$status // 400], []] }
sub good { my ($name, $raw, @up) = @_; [$name, $raw, [(200) x @up], \@up] }

our $CHUNKED = "5\r\nhello\r\n0\r\n\r\n";

sub chunked_te {
    my ($name, $te, $status) = @_;
    my $raw = P("Transfer-Encoding:$te") . "\r\n$CHUNKED";
    return defined $status ? bad($name, $raw, $status) : good($name, $raw, "POST / host=a body=hello");
}

run_tests();

__DATA__

=== TEST 1: CL.TE and TE.CL: both framings is refused, whichever comes first
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    main::cases(shift,
        main::bad("CL.TE", main::P("Content-Length: 13", "Transfer-Encoding: chunked") . "\r\n0\r\n\r\nSMUGGLED"),
        main::bad("TE.CL", main::P("Transfer-Encoding: chunked", "Content-Length: 3") . "\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"),
        main::bad("CL 0 with TE", main::P("Content-Length: 0", "Transfer-Encoding: chunked") . "\r\n5\r\nGET /\r\n0\r\n\r\n"),
        main::bad("TE with an empty CL", main::P("Transfer-Encoding: chunked", "Content-Length:") . "\r\n0\r\n\r\n"),
        main::bad("TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n$main::CHUNKED"),
        main::good("CL.0: a GET body that looks like a request stays body",
                 "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
                 "GET / host=a body=GET /admin HTTP/1.1\r\n\r\n"),
    );
}



=== TEST 2: TE.TE: obfuscated Transfer-Encoding is refused, OWS around it is not obfuscation
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    main::cases(shift,
        main::bad("space before the colon", main::P("Transfer-Encoding : chunked") . "\r\n$main::CHUNKED"),
        main::bad("tab before the colon", main::P("Transfer-Encoding\t: chunked") . "\r\n$main::CHUNKED"),
        main::bad("underscore", main::P("Transfer_Encoding: chunked") . "\r\n$main::CHUNKED"),
        main::bad("first line starts with a space", "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n$main::CHUNKED"),
        main::bad("folded in after another field", main::P("X: y", " Transfer-Encoding: chunked") . "\r\n$main::CHUNKED"),
        main::chunked_te("folded value", "\r\n chunked", 400),
        main::chunked_te("xchunked", " xchunked", 501),
        main::chunked_te("chunk", " chunk", 501),
        main::chunked_te("quoted", ' "chunked"', 501),
        main::chunked_te("chunked, identity", " chunked, identity", 501),
        main::chunked_te("identity, chunked", " identity, chunked", 501),
        main::chunked_te("gzip, chunked", " gzip, chunked", 501),
        main::chunked_te("chunked with a parameter", " chunked;q=1", 501),
        main::chunked_te("chunked, chunked", " chunked, chunked", 400),
        main::chunked_te("vertical tab before", "\x0bchunked", 400),
        main::chunked_te("form feed before", "\x0cchunked", 400),
        main::chunked_te("vertical tab after", " chunked\x0b", 400),
        main::chunked_te("NUL after", " chunked\x00", 400),
        main::bad("two lines", main::P("Transfer-Encoding: chunked", "Transfer-Encoding: chunked") . "\r\n$main::CHUNKED"),
        main::bad("second line another coding", main::P("Transfer-Encoding: chunked", "Transfer-encoding: x") . "\r\n$main::CHUNKED"),
        main::bad("second line empty", main::P("Transfer-Encoding: chunked", "Transfer-Encoding:") . "\r\n$main::CHUNKED"),
        main::chunked_te("tab before (OWS)", "\tchunked"),
        main::chunked_te("tab after (OWS)", " chunked\t"),
        main::chunked_te("spaces around (OWS)", "   chunked   "),
        main::chunked_te("upper case (codings are case-insensitive)", " CHUNKED"),
    );
}



=== TEST 3: Content-Length obfuscations
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    my $cl = sub { main::P("Content-Length:$_[0]") . "\r\nhello" };
    main::cases(shift,
        main::bad("twice", main::P("Content-Length: 5", "Content-Length: 6") . "\r\nhello"),
        main::bad("twice, equal", main::P("Content-Length: 5", "Content-Length: 5") . "\r\nhello"),
        main::bad("list", $cl->(" 5, 5")),
        main::bad("plus", $cl->(" +5")),
        main::bad("minus", $cl->(" -5")),
        main::bad("hex", $cl->(" 0x5")),
        main::bad("two numbers", $cl->(" 5 5")),
        main::bad("decimal", $cl->(" 5.0")),
        main::bad("empty", $cl->("")),
        main::bad("20 digits", $cl->(" 99999999999999999999")),
        main::bad("space before the colon", main::P("Content-Length : 5") . "\r\nhello"),
        main::bad("underscore", main::P("Content_Length: 5") . "\r\nhello"),
        main::bad("folded value", $cl->("\r\n 5")),
        main::bad("vertical tab", $cl->("\x0b5")),
        main::good("tabs around (OWS)", $cl->("\t5\t"), "POST / host=a body=hello"),
        main::good("leading zeros", $cl->(" 005"), "POST / host=a body=hello"),
    );
}



=== TEST 4: chunk sizes and chunk data
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    my $ck = sub { main::P("Transfer-Encoding: chunked") . "\r\n$_[0]" };
    main::cases(shift,
        main::bad("over 64 bits", $ck->("ffffffffffffffffff1\r\nx\r\n0\r\n\r\n")),
        main::bad("2^64", $ck->("10000000000000000\r\nx\r\n0\r\n\r\n")),
        main::bad("0x prefix", $ck->("0x5\r\nhello\r\n0\r\n\r\n")),
        main::bad("negative", $ck->("-5\r\nhello\r\n0\r\n\r\n")),
        main::bad("plus", $ck->("+5\r\nhello\r\n0\r\n\r\n")),
        main::bad("leading space", $ck->(" 5\r\nhello\r\n0\r\n\r\n")),
        main::bad("trailing space", $ck->("5 \r\nhello\r\n0\r\n\r\n")),
        main::bad("trailing tab", $ck->("5\t\r\nhello\r\n0\r\n\r\n")),
        main::bad("empty extension", $ck->("5;\r\nhello\r\n0\r\n\r\n")),
        main::bad("not hex", $ck->("g\r\nhello\r\n0\r\n\r\n")),
        main::bad("no size", $ck->("\r\nhello\r\n0\r\n\r\n")),
        main::bad("data longer than its size", $ck->("4\r\nSEE-THIS\r\n0\r\n\r\n")),
        main::bad("no CRLF after data", $ck->("3\r\nabcXY0\r\n\r\n")),
        main::bad("size 0 with data", $ck->("0\r\nhello\r\n\r\n")),
        main::good("leading zeros", $ck->("005\r\nhello\r\n0000\r\n\r\n"), "POST / host=a body=hello"),
        main::good("upper-case hex", $ck->("A\r\n0123456789\r\n0\r\n\r\n"), "POST / host=a body=0123456789"),
        main::good("extensions", $ck->("5 ; a=b ; c=\"d\\\"e\"\r\nhello\r\n0;f\r\n\r\n"),
                 "POST / host=a body=hello"),
        main::bad("extension too long", $ck->("5;a=" . ("x" x 2000) . "\r\nhello\r\n0\r\n\r\n")),
        main::bad("control byte in an extension", $ck->("5;a=b\x01\r\nhello\r\n0\r\n\r\n")),
    );
}



=== TEST 5: a bare LF in each position
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    my $ck = sub { main::P("Transfer-Encoding: chunked") . "\r\n$_[0]" };
    main::cases(shift,
        main::bad("after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
        main::bad("after a field", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"),
        main::bad("ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n"),
        main::bad("before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("after a chunk size", $ck->("5\nhello\r\n0\r\n\r\n")),
        main::bad("after a chunk extension", $ck->("5;a=b\nhello\r\n0\r\n\r\n")),
        main::bad("after chunk data", $ck->("5\r\nhello\n0\r\n\r\n")),
        main::bad("after the last chunk", $ck->("5\r\nhello\r\n0\n\r\n")),
        main::bad("after a trailer field", $ck->("5\r\nhello\r\n0\r\nX: 1\n\r\n")),
        main::bad("ending the trailers", $ck->("5\r\nhello\r\n0\r\n\n")),
    );
}



=== TEST 6: a bare CR in each position
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    my $ck = sub { main::P("Transfer-Encoding: chunked") . "\r\n$_[0]" };
    main::cases(shift,
        main::bad("after the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n"),
        main::bad("inside the request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("after a field", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
        main::bad("x:\\rTransfer-Encoding", main::P("x:\rTransfer-Encoding: chunked", "Content-Length: 5") . "\r\nhello"),
        main::bad("inside a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
        main::bad("ending the head, then a request", "GET / HTTP/1.1\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("before the request line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("after a chunk size", $ck->("5\rhello\r\n0\r\n\r\n")),
        main::bad("after a chunk extension", $ck->("5;a=b\rhello\r\n0\r\n\r\n")),
        main::bad("after chunk data", $ck->("5\r\nhello\r0\r\n\r\n")),
        main::bad("after the last chunk", $ck->("5\r\nhello\r\n0\r\r\n")),
        main::bad("after a trailer field", $ck->("5\r\nhello\r\n0\r\nX: 1\rY: 2\r\n\r\n")),
        main::bad("ending the trailers", $ck->("5\r\nhello\r\n0\r\n\rX")),
    );
}



=== TEST 7: NUL bytes
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    my $ck = sub { main::P("Transfer-Encoding: chunked") . "\r\n$_[0]" };
    main::cases(shift,
        main::bad("in the method", "G\0ET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("in the target", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("escaped in the target", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("in the version", "GET / HTTP/1.1\0\r\nHost: a\r\n\r\n"),
        main::bad("in a field name", "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: 1\r\n\r\n"),
        main::bad("in a field value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
        main::bad("in Host", "GET / HTTP/1.1\r\nHost: a\0.b\r\n\r\n"),
        main::bad("in a chunk size", $ck->("5\0\r\nhello\r\n0\r\n\r\n")),
        main::bad("in a chunk extension", $ck->("5;a\0\r\nhello\r\n0\r\n\r\n")),
        main::bad("in a trailer", $ck->("5\r\nhello\r\n0\r\nX: \0\r\n\r\n")),
    );
}



=== TEST 8: field names: whitespace before the colon, bad characters, obs-fold
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    main::cases(shift,
        main::bad("Host : a", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
        main::bad("X-Foo\\t: 1", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo\t: 1\r\n\r\n"),
        main::bad("space inside a name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n"),
        main::bad("@ in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\@Y: 1\r\n\r\n"),
        main::bad("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n"),
        main::bad("no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo\r\n\r\n"),
        main::bad("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
        main::bad("obs-fold in Host", "GET / HTTP/1.1\r\nHost:\r\n a\r\n\r\n"),
        main::bad("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        main::bad("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        main::bad("Host with userinfo", "GET / HTTP/1.1\r\nHost: u\@a\r\n\r\n"),
        main::good("tabs around a value", "GET / HTTP/1.1\r\nHost:\ta\t\r\n\r\n", "GET / host=a body="),
    );
}



=== TEST 9: request targets: absolute-form routes on its authority, other forms refused
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    main::cases(shift,
        main::good("absolute-form, Host names another route", "GET http://a/x?y HTTP/1.1\r\nHost: b\r\n\r\n",
                 "GET /x?y host=a body="),
        main::bad("absolute-form naming the 403 host", "GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", 403),
        main::good("absolute-form with a port", "GET http://a:81/ HTTP/1.1\r\nHost: b\r\n\r\n",
                 "GET / host=a:81 body="),
        main::bad("absolute-form with userinfo", "GET http://b\@a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("absolute-form, another scheme", "GET file://a/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("absolute-form, fragment", "GET http://a/#x HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("authority-form", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("asterisk-form with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::good("asterisk-form with OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS * host=a body="),
        main::bad("a path above the root", "GET /a/../../x HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("a space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("HTTP/0.9", "GET /\r\n\r\n"),
        main::bad("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    );
}



=== TEST 10: pipelined requests after a body are separate requests, each framed by us
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    my $get2 = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    main::cases(shift,
        main::good("after a Content-Length body", main::P("Content-Length: 5") . "\r\nhello$get2",
                 "POST / host=a body=hello", "GET /2 host=a body="),
        main::good("after a chunked body", main::P("Transfer-Encoding: chunked") . "\r\n$main::CHUNKED$get2",
                 "POST / host=a body=hello", "GET /2 host=a body="),
        main::good("after a chunked body and an empty line",
                 main::P("Transfer-Encoding: chunked") . "\r\n$main::CHUNKED\r\n$get2",
                 "POST / host=a body=hello", "GET /2 host=a body="),
        main::good("after trailers", main::P("Transfer-Encoding: chunked") . "\r\n5\r\nhello\r\n0\r\nHost: evil\r\n\r\n$get2",
                 "POST / host=a body=hello", "GET /2 host=a body="),
        main::good("bytes after Connection: close are never a request",
                 main::P("Content-Length: 5", "Connection: close") . "\r\nhello$get2",
                 "POST / host=a body=hello"),
        main::bad("a trailer carrying Content-Length", main::P("Transfer-Encoding: chunked") . "\r\n5\r\nhello\r\n0\r\nContent-Length: 30\r\n\r\n$get2"),
    );
}



=== TEST 11: methods: unknown ones are 501, TRACE and CONNECT 405, malformed ones 400
--- yaml_config eval: main::conf()
--- test_code eval
sub {
    main::cases(shift,
        main::bad("unknown", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        main::bad("lower case", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        main::bad("a known method's prefix", "GETX / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        main::bad("RTSP only", "SETUP / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        main::bad("not a token", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("tab after the method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        main::bad("TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
        main::bad("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405),
        main::bad("the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    );
}
