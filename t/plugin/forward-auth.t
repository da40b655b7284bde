# forward-auth: a real authorization service started by each block (a forked Perl
# server on 127.0.0.1 answering by the Authorization header and recording every call),
# the X-Forwarded-* headers it gets, 2xx with upstream_headers (client copies cleared),
# refusals passed back with their status, body and client_headers, caching (per worker
# and in a shared dict, 2xx only unless cache_denials), timeouts, failure_mode closed
# and open, and the configuration errors.
use Test::Moongate;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use File::Path ();

# AuthServer->new($port, $dir): answers each call (Connection: close) by its
# Authorization header and records it as <dir>/<n>.json { method, path, headers }:
#   Bearer good      200, X-User: alice, X-Scope: read, X-Internal: no
#   Bearer slow      waits 2 s, then 200
#   Bearer redirect  302, Location: https://login.example/, Set-Cookie: s=1
#   anything else    401, WWW-Authenticate: Bearer realm="auth", X-Internal: secret,
#                    a JSON body
package AuthServer {
    sub new {
        my ($class, $port, $dir) = @_;
        File::Path::make_path($dir);
        my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                        Listen => 64, ReuseAddr => 1, Proto => 'tcp')
            or die "auth server: cannot listen on $port: $!\n";
        my $pid = fork();
        die "auth server: fork: $!\n" unless defined $pid;
        if ($pid == 0) {
            $SIG{TERM} = sub { POSIX::_exit(0) };
            my $n = 0;
            while (my $c = $srv->accept) {
                my ($head, $buf) = ('', '');
                while ($head !~ /\r\n\r\n/) {
                    my $got = sysread($c, $buf, 65536);
                    last unless $got;
                    $head .= $buf;
                }
                my ($h) = split /\r\n\r\n/, $head, 2;
                my ($line, @lines) = split /\r\n/, $h // '';
                my ($method, $path) = split / /, $line // '';
                my %hdr;
                for (@lines) {
                    my ($k, $v) = split /:\s*/, $_, 2;
                    $hdr{lc $k} = exists $hdr{lc $k} ? "$hdr{lc $k}, $v" : $v;
                }
                $n++;
                open my $fh, '>', "$dir/$n.tmp" or die;
                print $fh JSON::PP->new->canonical->encode({ method => $method, path => $path,
                                                             headers => \%hdr });
                close $fh;
                rename "$dir/$n.tmp", "$dir/$n.json";
                my $auth = $hdr{authorization} // '';
                my $res;
                if ($auth eq 'Bearer good' || $auth eq 'Bearer slow') {
                    Time::HiRes::sleep(2) if $auth eq 'Bearer slow';
                    $res = "HTTP/1.1 200 OK\r\nX-User: alice\r\nX-Scope: read\r\nX-Internal: no\r\n"
                         . "Content-Length: 2\r\nConnection: close\r\n\r\nok";
                } elsif ($auth eq 'Bearer redirect') {
                    $res = "HTTP/1.1 302 Found\r\nLocation: https://login.example/\r\n"
                         . "Set-Cookie: s=1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                } else {
                    my $b = '{"error":"who are you"}';
                    $res = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"auth\"\r\n"
                         . "X-Internal: secret\r\nContent-Type: application/json\r\n"
                         . "Content-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b";
                }
                syswrite $c, $res;
                close $c;
            }
            POSIX::_exit(0);
        }
        close $srv;
        return bless { pid => $pid, dir => $dir }, $class;
    }

    sub calls {
        my ($self) = @_;
        my @f = sort { ($a =~ /(\d+)\.json$/)[0] <=> ($b =~ /(\d+)\.json$/)[0] }
            glob("$self->{dir}/*.json");
        return map {
            open my $fh, '<', $_ or die;
            local $/;
            JSON::PP::decode_json(scalar <$fh>)
        } @f;
    }

    sub DESTROY {
        my ($self) = @_;
        kill 'TERM', $self->{pid};
        waitpid($self->{pid}, 0);
    }
}

package main;

sub auth_server {
    my ($t) = @_;
    return AuthServer->new($t->fill('$MG_RAND_PORT_1'), $t->servroot . '/auth-calls');
}

sub echoed { JSON::PP::decode_json($_[0]{body}) }

run_tests();

__DATA__

=== TEST 1: a 2xx answer lets the request through with upstream_headers; the service sees X-Forwarded-* and request_headers only
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify"
        upstream_headers: [X-User, X-Scope]
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::auth_server($t);
    my $r = $t->request("GET /api/items?page=2",
        ['Authorization: Bearer good', 'X-User: mallory', 'X-Other: not-for-auth', 'Cookie: c=1']);
    is($r->{status}, 200, 'status 200');
    my $h = main::echoed($r)->{headers};
    is($h->{'x-user'}, 'alice', "the service's X-User, the client's removed");
    is($h->{'x-scope'}, 'read', 'X-Scope');
    ok(!exists $h->{'x-internal'}, 'a header not in upstream_headers is not copied');
    is($h->{authorization}, 'Bearer good', 'Authorization still goes upstream');
    my @c = $srv->calls;
    is(scalar @c, 1, 'one call');
    my $ch = $c[0]{headers};
    is($c[0]{method}, 'GET', 'GET');
    is($c[0]{path}, '/verify', 'to the configured path');
    is($ch->{'x-forwarded-method'}, 'GET', 'X-Forwarded-Method');
    is($ch->{'x-forwarded-uri'}, '/api/items?page=2', 'X-Forwarded-Uri');
    is($ch->{'x-forwarded-proto'}, 'http', 'X-Forwarded-Proto');
    is($ch->{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For');
    like($ch->{'x-forwarded-host'}, qr/^localhost/, 'X-Forwarded-Host');
    is($ch->{authorization}, 'Bearer good', 'Authorization forwarded');
    is($ch->{cookie}, 'c=1', 'Cookie forwarded');
    ok(!exists $ch->{'x-other'}, 'other headers are not forwarded');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 2: a refusal goes back to the client: status, body, Content-Type and client_headers only; the upstream is not contacted
--- upstream_listen: $MG_RAND_PORT_2
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_2" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: up
    plugins:
      forward-auth: { uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify" }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::auth_server($t);
    my $r = $t->request("GET /api/x", ['Authorization: Bearer bad']);
    is($r->{status}, 401, '401 from the service');
    is($r->{body}, '{"error":"who are you"}', "the service's body");
    is($r->{headers}{'www-authenticate'}, 'Bearer realm="auth"', 'WWW-Authenticate');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'Content-Type');
    ok(!exists $r->{headers}{'x-internal'}, 'X-Internal not passed on');
    $r = $t->request("GET /api/y", ['Authorization: Bearer redirect']);
    is($r->{status}, 302, 'status 302');
    is($r->{headers}{location}, 'https://login.example/', 'Location');
    is($r->{headers}{'set-cookie'}, 's=1', 'Set-Cookie');
    $r = $t->request("GET /api/z", []);
    is($r->{status}, 401, 'no credentials: the service refuses');
    is(scalar $srv->calls, 3, 'three calls');
    $t->stop;
}
--- upstream_accepted: 0



=== TEST 3: cache_ttl caches 2xx per cache_key; refusals are asked again; a different key is asked
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify"
        upstream_headers: [X-User]
        cache_ttl: 60
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::auth_server($t);
    for my $i (1 .. 3) {
        my $r = $t->request("GET /api/$i", ['Authorization: Bearer good']);
        is($r->{status}, 200, "good $i");
        is(main::echoed($r)->{headers}{'x-user'}, 'alice', "cached X-User $i");
    }
    is(scalar $srv->calls, 1, 'one call for three good requests');
    my $r = $t->request("GET /api/c", ['Authorization: Bearer good', 'Cookie: other=1']);
    is($r->{status}, 200, 'another cookie');
    is(scalar $srv->calls, 2, 'another key: asked again');
    is($t->request("GET /api/b1", ['Authorization: Bearer bad'])->{status}, 401, 'bad 1');
    is($t->request("GET /api/b2", ['Authorization: Bearer bad'])->{status}, 401, 'bad 2');
    is(scalar $srv->calls, 4, 'refusals not cached');
    $t->stop;
}



=== TEST 4: cache_denials caches a 401 too, in a shared dict seen by every worker
--- yaml_config
worker_processes: 2
shared_dicts:
  authcache: 1m
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify"
        upstream_headers: [X-User]
        cache_ttl: 60
        cache_denials: true
        shared_dict: authcache
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::auth_server($t);
    for my $i (1 .. 6) {
        my $r = $t->request("GET /api/b$i", ['Authorization: Bearer bad']);
        is($r->{status}, 401, "bad $i");
        is($r->{headers}{'www-authenticate'}, 'Bearer realm="auth"', "cached WWW-Authenticate $i");
        is($r->{body}, '{"error":"who are you"}', "cached body $i");
    }
    for my $i (1 .. 6) {
        my $r = $t->request("GET /api/g$i", ['Authorization: Bearer good']);
        is(main::echoed($r)->{headers}{'x-user'}, 'alice', "good $i");
    }
    is(scalar $srv->calls, 2, 'one call per key whichever worker served');
    $t->stop;
}



=== TEST 5: the service down, failure_mode closed (the default): 503 and an error line
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth: { uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify" }
--- request
GET /api/x
--- more_headers
Authorization: Bearer good
X-Request-Id: fa-down-1
--- error_code: 503
--- response_body_like
"error":"authorization service unavailable"
--- error_log
forward-auth: http://127.0.0.1:
connection refused



=== TEST 6: the service down, failure_mode open: the request goes through and a warning is logged
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify"
        failure_mode: open
        upstream_headers: [X-User]
--- request
GET /api/x
--- more_headers
X-User: mallory
--- error_code: 200
--- response_body_like
"uri":"/api/x"
--- error_log
[warn]
letting the request through (failure_mode open)
--- check eval
sub { ok(!exists main::echoed($_[0][0])->{headers}{'x-user'}, 'client X-User removed even when open') }



=== TEST 7: a slow service past timeout counts as down (closed: 503)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth: { uri: "http://127.0.0.1:$MG_RAND_PORT_1/verify", timeout: 300 }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::auth_server($t);
    my $t0 = Time::HiRes::time();
    my $r = $t->request("GET /api/x", ['Authorization: Bearer slow']);
    my $dt = Time::HiRes::time() - $t0;
    is($r->{status}, 503, 'status 503');
    ok($dt < 1.5, "answered after the timeout, not the service ($dt s)");
    like($t->error_log, qr/forward-auth: .*timeout/, 'logged');
    $t->stop;
}



=== TEST 8: method POST and a custom request_headers list
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:$MG_RAND_PORT_1/check"
        method: POST
        request_headers: [Authorization, X-Tenant]
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::auth_server($t);
    my $r = $t->request("DELETE /api/x", ['Authorization: Bearer good', 'X-Tenant: acme', 'Cookie: c=2']);
    is($r->{status}, 200, 'status 200');
    my ($c) = $srv->calls;
    is($c->{method}, 'POST', 'POST');
    is($c->{headers}{'x-tenant'}, 'acme', 'X-Tenant forwarded');
    is($c->{headers}{'x-forwarded-method'}, 'DELETE', 'the original method');
    ok(!exists $c->{headers}{cookie}, 'Cookie not in the list: not forwarded');
    $t->stop;
}



=== TEST 9: bad config: uri missing
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      forward-auth: { timeout: 100 }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:21: routes\[0\]\.plugins\.forward-auth: missing required key "uri"}]



=== TEST 10: bad config: a uri that is not http(s)
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      forward-auth: { uri: "ftp://auth/x" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:28: routes\[0\]\.plugins\.forward-auth\.uri: does not match pattern .*, got "ftp://auth/x"}]



=== TEST 11: bad config: failure_mode not closed or open
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:1/x"
        failure_mode: maybe
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:23: routes\[0\]\.plugins\.forward-auth\.failure_mode: expected one of "closed", "open", got "maybe"}]



=== TEST 12: bad config: an upstream_headers item that is not a header name
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:1/x"
        upstream_headers: ["X User"]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:28: routes\[0\]\.plugins\.forward-auth\.upstream_headers\[0\]: does not match pattern .*, got "X User"}]



=== TEST 13: bad config: a shared_dict that shared_dicts does not declare (the cache would silently be off)
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
shared_dicts:
  auth_cache: 1m
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      forward-auth:
        uri: "http://127.0.0.1:1/x"
        shared_dict: auth_cahce
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:10:22: routes\[0\]\.plugins\.forward-auth\.shared_dict: no shared dict "auth_cahce" in the configuration \(did you mean "auth_cache"\?\) \(declare it under shared_dicts:\)}]
