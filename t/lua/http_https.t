# mg.http.request over https, against Debian's nginx on 127.0.0.1 with certificates
# made for this run (Test::Moongate::TlsUpstream). Verification is on by default,
# against the system's CA store; for this file OpenSSL's SSL_CERT_FILE stands in for
# that store and holds only the run's CA, so the good path can be checked too (the real
# store refusing a private CA is t/proxy/upstream_tls.t's TEST 6: the same code).
use Test::Moongate;
use Test::Moongate::TlsUpstream;

our $U;
if (!Test::Moongate::TlsUpstream::nginx_bin()) {
    Test::More::plan(skip_all => 'nginx is not installed (Debian package nginx-light or nginx)');
}
$U = Test::Moongate::TlsUpstream::start();
$ENV{SSL_CERT_FILE} = "$U->{dir}/ca.crt";
delete $ENV{SSL_CERT_DIR};

# a route whose plugin calls each URL (with the options given) and answers the results
sub conf {
    my (@calls) = @_;
    my $lua = join('', map { "        try($_)\n" } @calls);
    return ("routes:\n  - { name: all, paths: [\"/*\"], plugins: { fetch: {} } }\n",
            ">>> fetch.lua\n" . <<"LUA");
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local out = {}
        local function try(opts)
            local res, err = mg.http.request(opts)
            out[#out + 1] = res and (res.status .. " " .. res.body:gsub("%s+\$", "")) or err
        end
$lua        return 200, table.concat(out, "\\n") .. "\\n"
    end,
}
LUA
}

sub url { "https://$_[0]:$U->{port}{$_[1]}/" }

run_tests();

__DATA__

=== TEST 1: verified by default: an address checks the IP SANs; a name the certificate lacks fails
--- yaml_config eval
(main::conf(
    '{ url = "' . main::url('127.0.0.1', 'good') . '" }',
    '{ url = "' . main::url('localhost', 'good') . '" }',
))[0]
--- lua_plugins eval
(main::conf(
    '{ url = "' . main::url('127.0.0.1', 'good') . '" }',
    '{ url = "' . main::url('localhost', 'good') . '" }',
))[1]
--- request
GET /x
--- error_code: 200
--- response_body_like
^200 sni= conn=\d+ req=1 reused=\. cn=
TLS handshake failed: hostname mismatch
$



=== TEST 2: ssl_server_name: the name sent (SNI) and checked
--- yaml_config eval
(main::conf('{ url = "' . main::url('localhost', 'good') . '", ssl_server_name = "upstream.test" }'))[0]
--- lua_plugins eval
(main::conf('{ url = "' . main::url('localhost', 'good') . '", ssl_server_name = "upstream.test" }'))[1]
--- request
GET /x
--- error_code: 200
--- response_body_like: ^200 sni=upstream\.test conn=\d+ req=1 reused=\. cn=\n$



=== TEST 3: a CA the store lacks: an error to Lua; ssl_verify = false goes through
--- yaml_config eval
(main::conf('{ url = "' . main::url('127.0.0.1', 'other') . '" }',
            '{ url = "' . main::url('localhost', 'other') . '", ssl_verify = false }'))[0]
--- lua_plugins eval
(main::conf('{ url = "' . main::url('127.0.0.1', 'other') . '" }',
            '{ url = "' . main::url('localhost', 'other') . '", ssl_verify = false }'))[1]
--- request
GET /x
--- error_code: 200
--- response_body_like
^TLS handshake failed: unable to get local issuer certificate
200 sni=localhost conn=\d+ req=1 reused=\. cn=
$



=== TEST 4: bad options are refused before anything is sent
--- yaml_config eval
(main::conf('{ url = "' . main::url('127.0.0.1', 'good') . '", ssl_verify = "no" }',
            '{ url = "' . main::url('127.0.0.1', 'good') . '", ssl_server_name = "a b" }'))[0]
--- lua_plugins eval
(main::conf('{ url = "' . main::url('127.0.0.1', 'good') . '", ssl_verify = "no" }',
            '{ url = "' . main::url('127.0.0.1', 'good') . '", ssl_server_name = "a b" }'))[1]
--- request
GET /x
--- error_code: 200
--- response_body
ssl_verify must be a boolean
bad ssl_server_name



=== TEST 5: keep-alive over TLS: calls to one host reuse the connection (no new handshake); another TLS name or verification gets its own
--- yaml_config eval
(main::conf(('{ url = "' . main::url('127.0.0.1', 'good') . '" }') x 3,
            '{ url = "' . main::url('localhost', 'good') . '", ssl_server_name = "upstream.test" }',
            '{ url = "' . main::url('127.0.0.1', 'good') . '", ssl_verify = false }',
            '{ url = "' . main::url('127.0.0.1', 'good') . '", keepalive = false }'))[0]
--- lua_plugins eval
(main::conf(('{ url = "' . main::url('127.0.0.1', 'good') . '" }') x 3,
            '{ url = "' . main::url('localhost', 'good') . '", ssl_server_name = "upstream.test" }',
            '{ url = "' . main::url('127.0.0.1', 'good') . '", ssl_verify = false }',
            '{ url = "' . main::url('127.0.0.1', 'good') . '", keepalive = false }'))[1]
--- request
GET /x
--- error_code: 200
--- response_body_like
^200 sni= conn=(\d+) req=1 reused=\. cn=
200 sni= conn=\1 req=2 reused=\. cn=
200 sni= conn=\1 req=3 reused=\. cn=
200 sni=upstream\.test conn=(?!\1)\d+ req=1 reused=\. cn=
200 sni= conn=(?!\1)\d+ req=1 reused=\. cn=
200 sni= conn=(?!\1)\d+ req=1 reused=\. cn=
$
