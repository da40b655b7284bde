# cors: preflights answered (never forwarded) per the Fetch standard; actual requests
# get the CORS headers; disallowed origins, methods and headers; the null origin;
# subdomain patterns; credentials; Vary merged with the upstream's; configs refused at
# load with file:line:column and the key.
use Test::Moongate;

# pre($t, $origin, $method, @more) -> the answer to a preflight for GET /api.
sub pre {
    my ($t, $origin, $method, @more) = @_;
    return $t->request("OPTIONS /api/x", ["Origin: $origin",
        "Access-Control-Request-Method: $method", @more]);
}

run_tests();

__DATA__

=== TEST 1: a preflight from an allowed origin is answered 204 with every header, not forwarded
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      cors:
        origins: ["https://app.example.com"]
        methods: [GET, POST]
        headers: [Content-Type, X-Token]
        credentials: true
        max_age: 600
--- test_code eval
sub {
    my ($t) = @_;
    my $r = main::pre($t, 'https://app.example.com', 'POST',
        'Access-Control-Request-Headers: content-type,x-token');
    is($r->{status}, 204, 'preflight answered');
    my $h = $r->{headers};
    is($h->{'access-control-allow-origin'}, 'https://app.example.com', 'origin echoed');
    is($h->{'access-control-allow-methods'}, 'GET, POST', 'methods');
    is($h->{'access-control-allow-headers'}, 'Content-Type, X-Token', 'headers');
    is($h->{'access-control-allow-credentials'}, 'true', 'credentials');
    is($h->{'access-control-max-age'}, '600', 'max age');
    is($h->{vary}, 'Origin', 'Vary: Origin');
    ok(!defined $h->{'x-echo-port'}, 'not forwarded');
    is($r->{body}, '', 'no body');
    1;
}



=== TEST 2: preflights refused: origin, method, header not allowed (403, no CORS headers)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      cors: { origins: ["https://app.example.com"], methods: [GET, POST], headers: [X-Token] }
--- test_code eval
sub {
    my ($t) = @_;
    my @cases = (
        ['https://evil.example.com', 'GET', [], 'origin not allowed'],
        ['http://app.example.com', 'GET', [], 'origin not allowed'],
        ['https://app.example.com:8443', 'GET', [], 'origin not allowed'],
        ['null', 'GET', [], 'origin not allowed'],
        ['https://app.example.com', 'DELETE', [], 'method not allowed'],
        ['https://app.example.com', 'GET', ['Access-Control-Request-Headers: x-token, x-other'],
         'header \"x-other\" not allowed'],
    );
    for my $c (@cases) {
        my $r = main::pre($t, $c->[0], $c->[1], @{ $c->[2] });
        is($r->{status}, 403, "$c->[0] $c->[1] refused");
        ok(!defined $r->{headers}{"access-control-allow-origin"}, "no ACAO") or diag(CORE::join(",", %{ $r->{headers} }));
        ok(!defined $r->{headers}{'x-echo-port'}, 'not forwarded');
        like($r->{body}, qr{CORS preflight refused: \Q$c->[3]\E}, $c->[3]);
        is($r->{headers}{vary}, 'Origin', 'Vary: Origin');
    }
    # the same origin in another case is the same origin
    my $r = main::pre($t, 'HTTPS://APP.example.com', 'get', 'Access-Control-Request-Headers: X-TOKEN');
    is($r->{status}, 204, 'case-insensitive origin, method and header');
    1;
}



=== TEST 3: actual requests: allowed origin gets the headers, others do not; Vary merged
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      cors:
        origins: ["https://app.example.com", "https://*.example.org"]
        expose_headers: [X-Echo-Port, X-Request-Id]
        credentials: true
      # stands for an upstream that sends its own Vary and CORS grant (runs before cors)
      response-transformer:
        _priority: 3500
        set_headers: { Vary: "Accept-Encoding", Access-Control-Allow-Origin: "*", Access-Control-Allow-Credentials: "true" }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /api/x", ["Origin: https://app.example.com"]);
    is($r->{status}, 200, 'forwarded');
    like($r->{body}, qr{"origin":"https://app.example.com"}, 'upstream saw the Origin');
    is($r->{headers}{'access-control-allow-origin'}, 'https://app.example.com', 'ACAO replaces the upstream *');
    is($r->{headers}{'access-control-allow-credentials'}, 'true', 'ACAC');
    is($r->{headers}{'access-control-expose-headers'}, 'X-Echo-Port, X-Request-Id', 'expose');
    is($r->{headers}{vary}, 'Accept-Encoding, Origin', 'Vary merged with the upstream');

    $r = $t->request("GET /api/x", ["Origin: https://a.b.example.org"]);
    is($r->{headers}{'access-control-allow-origin'}, 'https://a.b.example.org', 'subdomain pattern');
    for my $o ('https://example.org', 'https://.example.org', 'http://a.example.org',
               'https://aexample.org', 'https://a.example.org.evil.com', 'null') {
        $r = $t->request("GET /api/x", ["Origin: $o"]);
        is($r->{status}, 200, "$o: still answered");
        ok(!defined $r->{headers}{'access-control-allow-origin'}, "$o: no ACAO (upstream's removed)");
        ok(!defined $r->{headers}{'access-control-allow-credentials'}, "$o: no ACAC");
        is($r->{headers}{vary}, 'Accept-Encoding, Origin', "$o: Vary: Origin still");
    }
    $r = $t->request("GET /api/x", []);
    is($r->{headers}{vary}, 'Accept-Encoding, Origin', 'no Origin: Vary: Origin all the same');
    ok(!defined $r->{headers}{'access-control-allow-origin'}, 'no Origin: no ACAO');
    # OPTIONS without Access-Control-Request-Method is an ordinary request
    $r = $t->request("OPTIONS /api/x", ["Origin: https://app.example.com"]);
    like($r->{body}, qr{"method":"OPTIONS"}, 'plain OPTIONS forwarded');
    is($r->{headers}{'access-control-allow-origin'}, 'https://app.example.com', 'with ACAO');
    1;
}



=== TEST 4: defaults: any origin gets "*", no Vary; requested headers are echoed with Vary on them
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      cors: { private_network: true }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = main::pre($t, 'https://anyone.test', 'PUT', 'Access-Control-Request-Headers: X-A, x-b',
        'Access-Control-Request-Private-Network: true');
    is($r->{status}, 204, 'answered');
    is($r->{headers}{'access-control-allow-origin'}, '*', 'any origin: *');
    is($r->{headers}{'access-control-allow-methods'}, 'GET, HEAD, PUT, PATCH, POST, DELETE', 'default methods');
    is($r->{headers}{'access-control-allow-headers'}, 'x-a, x-b', 'requested headers echoed');
    is($r->{headers}{vary}, 'Access-Control-Request-Headers', 'Vary on the reflected headers only');
    is($r->{headers}{'access-control-allow-private-network'}, 'true', 'private network');
    ok(!defined $r->{headers}{'access-control-allow-credentials'}, 'no credentials');
    ok(!defined $r->{headers}{'access-control-max-age'}, 'no max age by default');
    $r = main::pre($t, 'null', 'GET');
    is($r->{headers}{'access-control-allow-origin'}, '*', 'the null origin gets * too');
    $r = main::pre($t, 'https://x.test', 'GET', 'Access-Control-Request-Headers: bad header(');
    is($r->{status}, 403, 'a malformed header list refused');
    $r = $t->request("GET /api/x", ["Origin: https://anyone.test"]);
    is($r->{headers}{'access-control-allow-origin'}, '*', 'actual: *');
    ok(!defined $r->{headers}{vary}, 'actual: no Vary when the answer is the same for all');
    1;
}



=== TEST 5: the null origin only when listed; credentials echo the origin for a listed one
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      cors: { origins: ["null", "http://localhost:3000", "http://[::1]:8080"], credentials: true, headers: [] }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = main::pre($t, 'null', 'GET');
    is($r->{status}, 204, 'listed null allowed');
    is($r->{headers}{'access-control-allow-origin'}, 'null', 'echoed');
    $r = main::pre($t, 'http://localhost:3000', 'GET', 'Access-Control-Request-Headers: x-a');
    is($r->{status}, 403, 'headers: [] allows none');
    $r = main::pre($t, 'http://localhost:3000', 'GET');
    is($r->{status}, 204, 'no requested headers: fine');
    $r = main::pre($t, 'http://[::1]:8080', 'GET');
    is($r->{headers}{'access-control-allow-origin'}, 'http://[::1]:8080', 'an IPv6 literal origin');
    1;
}



=== TEST 6: credentials with origins "*" (the default) is refused at load, on the credentials key
--- yaml_config
routes:
  - name: api
    paths: ["/api/*"]
    return: { status: 200 }
    plugins:
      cors: { credentials: true }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:28: routes\[0\]\.plugins\.cors\.credentials: credentials: true cannot be used with "\*" in origins}]



=== TEST 7: credentials with headers "*" is refused too
--- yaml_config
routes:
  - name: api
    paths: ["/api/*"]
    return: { status: 200 }
    plugins:
      cors:
        origins: ["https://a.example.com"]
        headers: ["*"]
        credentials: true
--- must_die
--- error_log eval
[qr{moongate\.yaml:9:22: routes\[0\]\.plugins\.cors\.credentials: credentials: true cannot be used with "\*" in headers}]



=== TEST 8: an origin with a path, a misplaced wildcard, a bad method are refused at load
--- yaml_config
routes:
  - name: api
    paths: ["/api/*"]
    return: { status: 200 }
    plugins:
      cors:
        origins: ["https://a.example.com", "https://b.example.com/"]
--- must_die
--- error_log eval
[qr{moongate\.yaml:7:44: routes\[0\]\.plugins\.cors\.origins\[1\]: an origin has no path}]



=== TEST 9: a wildcard in the middle of a host is refused
--- yaml_config
routes:
  - name: api
    paths: ["/api/*"]
    return: { status: 200 }
    plugins:
      cors: { origins: ["https://a.*.example.com"], methods: [GET] }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.cors\.origins\[0\]: a wildcard is only allowed as the first label}]



=== TEST 10: a method that is not a token is refused
--- yaml_config
routes:
  - name: api
    paths: ["/api/*"]
    return: { status: 200 }
    plugins:
      cors: { methods: ["GET POST"] }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.cors\.methods\[0\]: expected "\*" or an HTTP token, got "GET POST"}]



=== TEST 11: a real browser: headless Chromium preflights a credentialed cross-origin call
--- yaml_config
listen: ["127.0.0.1:$MG_PORT", "127.0.0.1:$MG_RAND_PORT_1"]
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: page
    paths: ["/page"]
    return:
      status: 200
      content_type: text/html
      body: |
        <!doctype html><html><body><pre id="out">pending</pre><script>
        const api = "http://127.0.0.1:$MG_PORT/api/";
        const out = [];
        async function go(name, url, opts) {
          try {
            const r = await fetch(api + url, opts);
            const j = await r.json();
            out.push(name + "=" + r.status + ":" + j.method + ":" + (j.headers["x-token"] || "-")
              + ":" + (r.headers.get("x-echo-port") ? "exposed" : "hidden"));
          } catch (e) { out.push(name + "=blocked"); }
        }
        (async () => {
          await go("ok", "x", { method: "PUT", credentials: "include", headers: { "X-Token": "t1" } });
          await go("badheader", "x", { method: "PUT", credentials: "include", headers: { "X-Other": "1" } });
          await go("badmethod", "x", { method: "PATCH", credentials: "include" });
          await go("other", "y", { method: "GET", credentials: "include", headers: { "X-Token": "t2" } });
          document.getElementById("out").textContent = "done " + out.join(" ");
        })();
        </script></body></html>
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      cors:
        origins: ["http://127.0.0.1:$MG_RAND_PORT_1"]
        methods: [GET, PUT]
        headers: [X-Token]
        expose_headers: [X-Echo-Port]
        credentials: true
--- timeout: 60
--- test_code eval
sub {
    my ($t) = @_;
    my $chromium;
    for my $c ($ENV{CHROMIUM}, 'chromium', 'chromium-browser') {
        next unless defined $c;
        for my $d (split /:/, $ENV{PATH}) {
            if (-x "$d/$c") { $chromium = "$d/$c"; last }
        }
        last if $chromium;
    }
  SKIP: {
        Test::More::skip('chromium is not installed (Debian package: chromium)', 5) unless $chromium;
        my $profile = $t->fill('$MG_SERVROOT') . '/chromium-profile';
        my $url = $t->fill('http://127.0.0.1:$MG_RAND_PORT_1/page');
        my @cmd = ($chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
            '--disable-background-networking', '--disable-sync', '--disable-component-update',
            '--disable-extensions', '--no-proxy-server', '--metrics-recording-only',
            '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
            "--user-data-dir=$profile", '--virtual-time-budget=20000', '--dump-dom', $url);
        # chromium's own chatter (D-Bus, GPU) goes to a file of the server root
        open my $saved, '>&', \*STDERR or die "dup: $!";
        open STDERR, '>', "$profile.log" or die "$profile.log: $!";
        open my $fh, '-|', @cmd or die "chromium: $!";
        open STDERR, '>&', $saved or die "restore: $!";
        local $/;
        my $dom = <$fh> // '';
        close $fh;
        my ($res) = $dom =~ m{<pre id="out">([^<]*)</pre>};
        $res //= '';
        Test::More::note("browser: $res");
        like($res, qr{^done }, 'the page ran') or Test::More::diag($dom);
        like($res, qr{\bok=200:PUT:t1:exposed\b}, 'preflighted PUT with X-Token went through, exposed header readable');
        like($res, qr{\bbadheader=blocked\b}, 'a header not allowed: blocked by the browser');
        like($res, qr{\bbadmethod=blocked\b}, 'a method not allowed: blocked by the browser');
        like($res, qr{\bother=200:GET:t2:exposed\b}, 'second call (preflight cached or not) fine');
    }
    1;
}
--- no_error_log
[error]
