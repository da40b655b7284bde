# mg.encode and mg.crypto through real requests: codecs and their refusals, digests and
# HMAC, signatures of every JWS algorithm made and checked with keys generated for this
# run by the openssl command (PEM in every form, JWK as JSON and as a table),
# algorithm confusion refused, AES-GCM, bcrypt (hashes written by htpasswd -B), and the
# API at plugin load, in header_filter and in a timer.
use Test::Moongate;
use File::Temp ();

our $KEYS;
sub have { my $c = shift; grep { -x "$_/$c" } split /:/, $ENV{PATH} // '/usr/bin:/bin' }
if (!have('openssl')) {
    Test::More::plan(skip_all => 'the openssl command is not installed (Debian package openssl)');
}
if (!have('htpasswd')) {
    Test::More::plan(skip_all => 'htpasswd is not installed (Debian package apache2-utils)');
}

# The keys of this run, made once: name => PEM text.
sub make_keys {
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my @cmds = (
        "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $dir/rsa.pem",
        "pkey -in $dir/rsa.pem -pubout -out $dir/rsa.pub",
        "pkey -in $dir/rsa.pem -traditional -out $dir/rsa.pkcs1",
        "rsa -in $dir/rsa.pem -RSAPublicKey_out -out $dir/rsa.pkcs1pub",
        "req -x509 -key $dir/rsa.pem -subj /CN=jwt -days 2 -out $dir/rsa.crt",
        "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out $dir/rsa1024.pem",
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $dir/ec256.pem",
        "pkey -in $dir/ec256.pem -pubout -out $dir/ec256.pub",
        "pkey -in $dir/ec256.pem -traditional -out $dir/ec256.sec1",
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out $dir/ec384.pem",
        "pkey -in $dir/ec384.pem -pubout -out $dir/ec384.pub",
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out $dir/k256.pem",
        "genpkey -algorithm ED25519 -out $dir/ed.pem",
        "pkey -in $dir/ed.pem -pubout -out $dir/ed.pub",
        "genpkey -algorithm ED448 -out $dir/ed448.pem",
    );
    for my $c (@cmds) {
        system("openssl $c 2>/dev/null") == 0 or die "openssl $c failed\n";
    }
    my $ht = `htpasswd -nbB -C 10 alice 'wonder land'`;
    $ht =~ /^alice:(\S+)/ or die "htpasswd -B wrote nothing usable\n";
    my %k = (htpasswd => $1);
    opendir(my $dh, $dir) or die;
    for my $f (grep { !/^\./ } readdir $dh) {
        open(my $fh, '<', "$dir/$f") or die;
        local $/;
        $k{$f} = <$fh>;
    }
    return \%k;
}
$KEYS = make_keys();

# user_files: every key under keys/ of the server root
sub key_files { join '', map { my $v = $KEYS->{$_}; $v .= "\n" if $v !~ /\n\z/; ">>> keys/$_\n$v" } sort keys %$KEYS }

# A plugin "ct" whose access phase runs `body` (Lua statements calling say(...)) and
# answers the lines said.
sub plugin {
    my ($body) = @_;
    return ">>> ct.lua\n" . <<'HEAD' . $body . <<'TAIL';
local mg = require "moongate"
local function key(name)
    local f = assert(io.open("$MG_SERVROOT/keys/" .. name))
    local s = f:read("*a")
    f:close()
    return s
end
local lines
local function say(...)
    local t = {}
    for i = 1, select("#", ...) do
        t[i] = tostring((select(i, ...)))
    end
    lines[#lines + 1] = table.concat(t, " ")
end
local hex = function(s) return s and mg.encode.hex(s) end
local function run()
HEAD
end
return {
    name = "ct", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        lines = {}
        run()
        return 200, table.concat(lines, "\n") .. "\n"
    end,
}
TAIL
}

# a block signs and verifies with every algorithm in one request: under ASan on a busy
# machine that outlasts the default CPU budget, which is not what these blocks test
our $YAML = "lua: { cpu_budget: 2s }
routes:
  - { name: r, paths: [\"/*\"], plugins: { ct: {} } }
";

run_tests();

__DATA__

=== TEST 1: mg.encode: RFC 4648 vectors both ways, strict decoders, type errors name the function
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local e = mg.encode
say(e.base64(""), e.base64("f"), e.base64("fo"), e.base64("foo"), e.base64("foobar"))
say(e.base64url("\251\255\191"), e.base64("\251\255\191"), e.base64url("fo"), e.hex("\0\171\255"))
say(e.base64_decode("Zm9vYmFy"), e.base64_decode("Zm8="), e.base64url_decode("Zm8"),
    e.base64url_decode("Zm8="), hex(e.base64url_decode("-_-_")), e.hex_decode("666F6f"))
for _, s in ipairs({ "Zm8", "Zm9v=", "Z===", "Zh==", "Zm 9", "-_-_", "Zg==Zg==" }) do
    say("base64", s, e.base64_decode(s))
end
for _, s in ipairs({ "Z", "Zh", "+/+/", "Zg=", "Zm9v\128" }) do
    say("base64url", (s:gsub("[^%w=+/_-]", "?")), e.base64url_decode(s))
end
say("hex", e.hex_decode("abc"))
say("hex", e.hex_decode("zz"))
local all = {}
for i = 0, 255 do all[#all + 1] = string.char(i) end
all = table.concat(all)
say("roundtrip", e.base64_decode(e.base64(all)) == all, e.base64url_decode(e.base64url(all)) == all,
    e.hex_decode(e.hex(all)) == all)
say(pcall(e.base64, 42))
say(pcall(e.hex_decode, nil))
LUA
--- request
GET /t
--- response_body
 Zg== Zm8= Zm9v Zm9vYmFy
-_-_ +/+/ Zm8 00abff
foobar fo fo fo fbffbf foo
base64 Zm8 nil invalid base64
base64 Zm9v= nil invalid base64
base64 Z=== nil invalid base64
base64 Zh== nil invalid base64
base64 Zm 9 nil invalid base64
base64 -_-_ nil invalid base64
base64 Zg==Zg== nil invalid base64
base64url Z nil invalid base64url
base64url Zh nil invalid base64url
base64url +/+/ nil invalid base64url
base64url Zg= nil invalid base64url
base64url Zm9v? nil invalid base64url
hex nil invalid hex
hex nil invalid hex
roundtrip true true true
false mg.encode.base64: expected a string, got number
false mg.encode.hex_decode: expected a string, got nil
--- no_error_log
[error]



=== TEST 2: digests, HMAC (RFC 4231 case 2 and the fox), constant-time equals, random bytes
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local c = mg.crypto
say(hex(c.sha1("abc")))
say(hex(c.sha256("abc")))
say(#c.sha384(""), #c.sha512(""), hex(c.sha512("abc")):sub(1, 16))
local fox = "The quick brown fox jumps over the lazy dog"
say(hex(c.hmac("sha256", "key", fox)))
say(hex(c.hmac_sha256("Jefe", "what do ya want for nothing?")))
say(hex(c.hmac("sha1", "key", fox)))
say(#c.hmac("sha384", "k", ""), #c.hmac("sha512", string.rep("k", 200), fox))
say(c.equals("abc", "abc"), c.equals("abc", "abd"), c.equals("abc", "abcd"), c.equals("", ""))
local r1, r2 = c.random(32), c.random(32)
say(#r1, #c.random(0), r1 ~= r2)
say(pcall(c.hmac, "md5", "k", "m"))
say(pcall(c.hmac_sha256, "k", 5))
say(pcall(c.random, -1))
say(pcall(c.sha256))
LUA
--- request
GET /t
--- response_body
a9993e364706816aba3e25717850c26c9cd0d89d
ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
48 64 ddaf35a193617aba
f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8
5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9
48 64
true false false true
32 0 true
false mg.crypto.hmac: unknown algorithm "md5" (sha1, sha256, sha384, sha512)
false mg.crypto.hmac_sha256: expected a string message, got number
false mg.crypto.random: expected a byte count (an integer 0..1048576), got -1
false mg.crypto.sha256: expected a string, got nil
--- no_error_log
[error]



=== TEST 3: sign then verify for every algorithm; a changed message or signature fails
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local c = mg.crypto
local cases = {
    { "RS256", "rsa.pem", "rsa.pub" }, { "RS384", "rsa.pkcs1", "rsa.pkcs1pub" },
    { "RS512", "rsa.pem", "rsa.crt" }, { "PS256", "rsa.pem", "rsa.pub" },
    { "PS384", "rsa.pkcs1", "rsa.pub" }, { "PS512", "rsa.pem", "rsa.crt" },
    { "ES256", "ec256.pem", "ec256.pub" }, { "ES256", "ec256.sec1", "ec256.pub" },
    { "ES384", "ec384.pem", "ec384.pub" }, { "EdDSA", "ed.pem", "ed.pub" },
}
local msg = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9"
for _, cs in ipairs(cases) do
    local alg, priv, pub = cs[1], key(cs[2]), key(cs[3])
    local sig, err = c.sign(alg, priv, msg)
    local flipped = sig and string.char((sig:byte(1) + 1) % 256) .. sig:sub(2)
    say(alg, cs[2], #(sig or ""), err, c.verify(alg, pub, msg, sig),
        (c.verify(alg, pub, msg .. "x", sig)), (c.verify(alg, pub, msg, flipped)),
        (c.verify(alg, priv, msg, sig)))
end
for _, alg in ipairs({ "HS256", "HS384", "HS512" }) do
    local sig = c.sign(alg, "s3cret", msg)
    say(alg, #sig, sig == c.hmac("sha" .. alg:sub(3), "s3cret", msg), c.verify(alg, "s3cret", msg, sig),
        c.verify(alg, "s3cret", msg, sig:sub(2)))
end
-- ES* signatures are JWS's r||s: the wrong length is a mismatch, not an error
say(c.verify("ES256", key("ec256.pub"), msg, string.rep("\1", 63)))
say(c.verify("ES256", key("ec256.pub"), msg, ""))
say(c.verify("EdDSA", key("ed.pub"), msg, string.rep("\0", 64)))
LUA
--- request
GET /t
--- response_body
RS256 rsa.pem 256 nil true false false true
RS384 rsa.pkcs1 256 nil true false false true
RS512 rsa.pem 256 nil true false false true
PS256 rsa.pem 256 nil true false false true
PS384 rsa.pkcs1 256 nil true false false true
PS512 rsa.pem 256 nil true false false true
ES256 ec256.pem 64 nil true false false true
ES256 ec256.sec1 64 nil true false false true
ES384 ec384.pem 96 nil true false false true
EdDSA ed.pem 64 nil true false false true
HS256 32 true true false signature mismatch
HS384 48 true true false signature mismatch
HS512 64 true true false signature mismatch
false signature mismatch
false signature mismatch
false signature mismatch
--- no_error_log
[error]



=== TEST 4: algorithm confusion and unfit keys are refused with the reason
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local c = mg.crypto
local msg, sig = "a.b", string.rep("x", 64)
say(c.verify("RS256", key("ec256.pub"), msg, sig))
say(c.verify("ES256", key("rsa.pub"), msg, sig))
say(c.verify("ES384", key("ec256.pub"), msg, sig))
say(c.verify("ES256", key("ec384.pub"), msg, sig))
say(c.verify("EdDSA", key("rsa.pub"), msg, sig))
say(c.verify("PS256", key("ed.pub"), msg, sig))
say(c.verify("RS256", key("rsa1024.pem"), msg, sig))
-- the public key as an HMAC secret: the classic RS256 -> HS256 forgery
local forged = c.hmac("sha256", key("rsa.pub"), msg)
say(c.verify("HS256", key("rsa.pub"), msg, forged))
say(c.verify("HS256", c.key(key("rsa.pub")), msg, forged))
say(c.verify("RS256", "s3cret", msg, sig))
say(c.verify("HS256", "", msg, sig))
say(c.verify("none", "s3cret", msg, ""))
say(c.verify("rs256", key("rsa.pub"), msg, sig))
say(c.sign("RS256", key("rsa.pub"), msg))
say(c.sign("ES256", key("ec384.pem"), msg))
say(pcall(c.verify, nil, "k", msg, sig))
say(pcall(c.verify, "RS256", 42, msg, sig))
say(pcall(c.verify, "RS256", key("rsa.pub"), msg, nil))
LUA
--- request
GET /t
--- response_body
nil key type EC does not fit RS256
nil key type RSA does not fit ES256
nil key curve P-256 does not fit ES384
nil key curve P-384 does not fit ES256
nil key type RSA does not fit EdDSA
nil key type OKP does not fit PS256
nil an RSA key of 1024 bits is too small for RS256 (2048 at least)
nil a PEM key does not fit HS256
nil key type RSA does not fit HS256
nil not a PEM or JWK key
nil an empty secret does not fit HS256
nil unknown algorithm none
nil unknown algorithm rs256
nil a public key cannot sign
nil key curve P-384 does not fit ES256
false mg.crypto.verify: expected an algorithm name, got nil
false mg.crypto.verify: expected a key (a key object, PEM or JWK), got number
false mg.crypto.verify: expected a string signature, got nil
--- no_error_log
[error]



=== TEST 5: keys: objects, JWK (RFC 7515 A.3 and RFC 8037 vectors, JSON or table), bad PEM and JWK
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local c = mg.crypto
local k = c.key(key("rsa.pem"))
say(tostring(k), k.kty, k.bits, k.private)
local p = c.key(key("ec384.pub"))
say(tostring(p), p.kty, p.crv, p.private)
say(tostring(c.key(key("rsa.crt"))))
say(tostring(c.key(key("ed.pem"))))
-- RFC 7515 appendix A.3
local es = '{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
    .. '"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}'
local input = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6"
    .. "Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
local sig = mg.encode.base64url_decode("DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8"
    .. "ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
say("A.3", c.verify("ES256", es, input, sig), (c.verify("ES256", es, input .. ".", sig)))
-- RFC 8037 appendix A.4, the key as a table, signing reproduces the RFC's signature
local ed = { kty = "OKP", crv = "Ed25519", d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }
local edsig = c.sign("EdDSA", ed, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
say("8037", mg.encode.base64url(edsig))
say("8037", c.verify("EdDSA", { kty = "OKP", crv = "Ed25519", x = ed.x },
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc", edsig))
-- oct keys serve HS*; a JWK's "alg" pins the algorithm
local oct = c.key('{"kty":"oct","k":"czNjcmV0","alg":"HS256"}')
say("oct", oct.kty, c.verify("HS256", oct, "m", c.hmac_sha256("s3cret", "m")))
say("oct", c.verify("HS512", oct, "m", "x"))
say("pin", c.verify("ES384", { kty = "EC", crv = "P-256", alg = "ES256",
    x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }, "m", "s"))
for _, bad in ipairs({
    "garbage", "", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    key("k256.pem"), key("ed448.pem"), "{", '{"kty":"RSA"}', '{"kty":"RSA","n":"!!","e":"AQAB"}',
    '{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}', '{"kty":"OKP","crv":"X25519","x":"AAAA"}',
    '{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
        .. '"y":"y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}',
    '{"kty":"DSA"}', '{"kty":"oct","k":""}', '[1,2]',
    '{"kty":"RSA","e":"AQAB","n":"' .. string.rep("_", 1400) .. '"}',
}) do
    say(c.key(bad))
end
say(pcall(c.key, 5))
LUA
--- request
GET /t
--- response_body
mg.crypto key (RSA 2048 bits, private) RSA 2048 true
mg.crypto key (EC P-384 384 bits) EC P-384 false
mg.crypto key (RSA 2048 bits)
mg.crypto key (OKP Ed25519 255 bits, private)
A.3 true false
8037 hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg
8037 true
oct oct true
oct nil the key is for HS256, not HS512
pin nil key curve P-256 does not fit ES384
nil not a PEM or JWK key
nil not a PEM or JWK key
nil invalid PEM key
nil encrypted private keys are not supported (decrypt it with openssl pkey)
nil unsupported EC curve (P-256 and P-384 are)
nil unsupported key type (RSA, EC and Ed25519 are)
nil invalid JWK: expected a string key at position 2
nil an RSA JWK needs "n" and "e"
nil the JWK member "n" is not base64url
nil an EC JWK needs "x" and "y" (and "d") of the curve's size
nil an OKP JWK needs "crv" Ed25519
nil invalid EC JWK (a point not on the curve, or x/y not d's)
nil unsupported JWK "kty" DSA (RSA, EC, OKP, oct are)
nil an oct JWK needs "k" (base64url, not empty)
nil not a PEM or JWK key
nil RSA key over 8192 bits
false mg.crypto.key: expected a PEM or JWK string or a JWK table, got number
--- no_error_log
[error]



=== TEST 6: AES-GCM: the GCM specification's test case 2, round trips with aad, tampering fails
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local c = mg.crypto
local z16, z12 = string.rep("\0", 16), string.rep("\0", 12)
local ct, tag = c.aes_gcm_encrypt(z16, z12, z16)
say(hex(ct), hex(tag))
for _, klen in ipairs({ 16, 24, 32 }) do
    local k, iv = c.random(klen), c.random(12)
    local ct2, tag2 = c.aes_gcm_encrypt(k, iv, "attack at dawn", "hdr")
    say(klen, #ct2, #tag2, c.aes_gcm_decrypt(k, iv, ct2, tag2, "hdr"),
        c.aes_gcm_decrypt(k, iv, ct2, tag2, "hdX"))
    say(klen, c.aes_gcm_decrypt(k, iv, ct2:sub(1, -2) .. string.char((ct2:byte(-1) + 1) % 256), tag2, "hdr"))
    say(klen, c.aes_gcm_decrypt(k, iv, ct2, tag2))
end
say(c.aes_gcm_encrypt("short", z12, "x"))
say(c.aes_gcm_encrypt(z16, "", "x"))
say(c.aes_gcm_decrypt(z16, z12, ct, tag:sub(1, 12)))
say(c.aes_gcm_decrypt(z16, z12, "", select(2, c.aes_gcm_encrypt(z16, z12, ""))))
say(pcall(c.aes_gcm_encrypt, z16, z12, "x", 5))
LUA
--- request
GET /t
--- response_body
0388dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bddf
16 14 16 attack at dawn nil authentication failed
16 nil authentication failed
16 nil authentication failed
24 14 16 attack at dawn nil authentication failed
24 nil authentication failed
24 nil authentication failed
32 14 16 attack at dawn nil authentication failed
32 nil authentication failed
32 nil authentication failed
nil the key must be 16, 24 or 32 bytes
nil the iv must be 1 to 128 bytes (12 recommended)
nil the tag must be 16 bytes

false mg.crypto.aes_gcm_encrypt: expected a string aad (or nil), got number
--- no_error_log
[error]



=== TEST 7: bcrypt: an htpasswd -B hash checks once slowly, then from the cache; wrong passwords fail
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins eval
main::plugin(<<'LUA')
local c = mg.crypto
local h = key("htpasswd"):match("%S+")
local t0 = mg.now()
local ok = c.bcrypt_verify("wonder land", h)
local t1 = mg.now()
local again = c.bcrypt_verify("wonder land", h)
local t2 = mg.now()
say("first", ok, t1 - t0 > 0.01)
say("again", again, t2 - t1 < 0.005)
say("wrong", c.bcrypt_verify("wonder lane", h), c.bcrypt_verify("", h))
say("bad", c.bcrypt_verify("x", "$1$abc$xyz"))
say("bad", c.bcrypt_verify("x", "plain"))
say("bad", c.bcrypt_verify("x", "$2y$15$XUvgsn6Jd0HUASU0QCwtJeCgZSfkHQ.V4hUPr3HTl98ceTvR1UUKO"))
local made = c.bcrypt_hash("p@ss", 4)
say("made", made:sub(1, 7), #made, c.bcrypt_verify("p@ss", made), c.bcrypt_verify("p@sS", made))
say(pcall(c.bcrypt_hash, "p", 3))
say(pcall(c.bcrypt_verify, nil, h))
LUA
--- request
GET /t
--- response_body
first true true
again true true
wrong false false
bad nil not a bcrypt hash ($2a$, $2b$ or $2y$)
bad nil not a bcrypt hash ($2a$, $2b$ or $2y$)
bad nil bcrypt cost over 14 (it would block the worker for seconds)
made $2b$04$ 60 true false
false mg.crypto.bcrypt_hash: expected a cost (an integer 4..14), got 3
false mg.crypto.bcrypt_verify: expected a string password, got nil
--- no_error_log
[error]



=== TEST 8: usable at plugin load, in header_filter and in a timer
--- yaml_config eval
$main::YAML
--- user_files eval
main::key_files()
--- lua_plugins
>>> ct.lua
local mg = require "moongate"
local f = assert(io.open("$MG_SERVROOT/keys/ec256.pem"))
local KEY = assert(mg.crypto.key(f:read("*a")))
f:close()
local AT_LOAD = mg.encode.hex(mg.crypto.hmac_sha256("k", "load"))
local SIG = assert(mg.crypto.sign("ES256", KEY, "load"))
return {
    name = "ct", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        mg.timer.at(0, function()
            mg.log(mg.INFO, "timer sha256=", mg.encode.hex(mg.crypto.sha256("abc")):sub(1, 8))
        end)
        return 200, AT_LOAD .. " " .. tostring(mg.crypto.verify("ES256", KEY, "load", SIG)) .. "\n"
    end,
    header_filter = function()
        mg.response.set_header("X-B64", mg.encode.base64url(mg.crypto.sha1("hdr")))
    end,
}
--- request
GET /t
--- response_body
d0070899d5f542366a308e7efa8d38ec690220877ae091e0dab70c47420caa36 true
--- response_headers
X-B64: L90vdzVQbRPNlpOc0ZRQpfZJoqo
--- error_log
timer sha256=ba7816bf
--- no_error_log
[error]
