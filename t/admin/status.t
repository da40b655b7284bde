# The admin API: GET /status describes the workers and generations; other paths and
# methods get 404 and 405.
use Test::Moongate;
use Test::Moongate::Client;
use JSON::PP ();

sub admin { Test::Moongate::Client::request($_[0]->admin_port, $_[1], $_[2] // [], 2) }

run_tests();

__DATA__

=== TEST 1: /status lists the workers and the generation
--- yaml_config
worker_processes: 2
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- request
GET /hello
--- test_code eval
sub {
    my $t = shift;
    my $r = main::admin($t, "GET /status");
    is($r->{status}, 200, 'status 200');
    like($r->{headers}{'content-type'} // '', qr{application/json}, 'JSON');
    my $s = eval { JSON::PP::decode_json($r->{body}) } // {};
    is($s->{generation}, 1, 'generation 1');
    is_deeply($s->{generations}, [1], 'one generation running');
    is($s->{pid}, $t->pid, 'the master pid');
    my @w = @{ $s->{workers} // [] };
    is(scalar @w, 2, 'two workers');
    for my $w (@w) {
        ok($w->{pid} && $w->{pid} != $t->pid && kill(0, $w->{pid}), "worker $w->{pid} alive");
        is($w->{generation}, 1, 'worker generation');
        ok(exists $w->{connections} && exists $w->{requests}, 'counters');
    }
    my $total = 0;
    $total += $_->{requests} for @w;
    ok($total >= 1, "requests counted ($total)");
}



=== TEST 2: the generation goes up on reload
--- yaml_config
routes: []
--- request eval
["GET /a", "GET /a"]
--- reload_after: 1
--- reload_yaml_config
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "a\n" } }
--- error_code eval
[404, 200]
--- test_code eval
sub {
    my $t = shift;
    my $s = JSON::PP::decode_json(main::admin($t, "GET /status")->{body});
    is($s->{generation}, 2, 'generation 2');
    ok(!grep({ $_->{generation} != 2 } @{ $s->{workers} }), 'every worker on it');
}



=== TEST 3: unknown paths get 404, wrong methods 405 with Allow
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $r = main::admin($t, "GET /nope");
    is($r->{status}, 404, 'GET /nope: 404');
    like($r->{body}, qr/"error"/, 'JSON error body');
    $r = main::admin($t, "POST /status\nx");
    is($r->{status}, 405, 'POST /status: 405');
    like($r->{headers}{allow} // '', qr/GET/, 'Allow: GET');
    $r = main::admin($t, "GET /reload");
    is($r->{status}, 405, 'GET /reload: 405');
    like($r->{headers}{allow} // '', qr/POST/, 'Allow: POST');
    $r = main::admin($t, "HEAD /status");
    is($r->{status}, 200, 'HEAD /status: 200');
    is($r->{body}, '', 'without a body');
}



=== TEST 4: the admin listener can be configured on its own port
--- yaml_config
admin: { listen: "127.0.0.1:$MG_RAND_PORT_1" }
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $port = $t->fill('$MG_RAND_PORT_1');
    is($t->admin_port, $port, 'the harness uses the block admin port');
    my $r = Test::Moongate::Client::request($port, "GET /status", [], 2);
    is($r->{status}, 200, '/status answers there');
    $r = $t->request("GET /status");
    is($r->{status}, 404, 'the client port has no /status route');
}



=== TEST 5: /status stays valid JSON after a reload resizes a shared dict
--- yaml_config
shared_dicts: { a: 64k, b: 64k }
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $err = $t->reload("shared_dicts: { a: 128k, b: 64k }\nroutes: []\n");
    is($err, '', 'the reload took (its generation was read from /status)');
    # once the old worker is gone, the new one (which mapped the new dict) answers
    my ($r, $s);
    my $end = time + 5;
    do {
        select undef, undef, undef, 0.05;
        $r = main::admin($t, "GET /status");
        $s = eval { JSON::PP::decode_json($r->{body}) };
    } while ($s && grep({ $_->{generation} != 2 } @{ $s->{workers} }) && time < $end);
    ok($s, 'the body decodes') or diag($r->{body});
    my %cap = map { $_->{name} => $_->{capacity} } @{ $s ? $s->{shared_dicts} : [] };
    is(scalar keys %cap, 2, 'each dict listed once');
    ok(($cap{a} // 0) >= 128 * 1024, "a has its new size ($cap{a})");
}
